/**
 * A world per test on the real Redis and PostgreSQL: its own stream keys,
 * group and schema, removed afterwards. No mocks.
 */
import postgres from "postgres";
import { Redis } from "ioredis";
import { DATABASE_URL, REDIS_URL } from "./services.ts";

/** A short random lowercase name, unique per call, e.g. `t_k3j9x2ab`. */
export function uniqueName(prefix = "t"): string {
  return `${prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
}

/** A Redis connection for a test; `await using` closes it. */
export function testRedis(): Redis & AsyncDisposable {
  const r = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: false });
  r.on("error", () => {});
  return Object.assign(r, {
    [Symbol.asyncDispose]: async () => {
      await r.quit().catch(() => r.disconnect());
    },
  });
}

/** A PostgreSQL pool for a test; `await using` closes it. */
export function testSql(): postgres.Sql & AsyncDisposable {
  const sql = postgres(DATABASE_URL, { max: 2, onnotice: () => {} });
  return Object.assign(sql, { [Symbol.asyncDispose]: () => sql.end({ timeout: 5 }) });
}

/**
 * An isolated world for one test: a schema (dropped afterwards), a stream
 * prefix and dead-letter stream (deleted afterwards), and the environment
 * that points a service at them.
 */
export interface World extends AsyncDisposable {
  readonly schema: string;
  /** `schema.sensor_readings`, the TABLE_NAME for the service. */
  readonly table: string;
  /** A unique stream-key prefix, e.g. `t_ab12cd34ef`; per-sensor streams are `${prefix}:{device}:{sensor}`. */
  readonly prefix: string;
  readonly deadLetterStream: string;
  readonly group: string;
  readonly redis: Redis;
  readonly sql: postgres.Sql;
  /** Environment for a service instance in this world (merge your own on top). */
  env(extra?: Record<string, string>): Record<string, string>;
}

/**
 * What keeps one test's service apart from every other's: its own streams
 * (`<prefix>:*`, dead letters in `<prefix>_failed`), group and table, with
 * fast polling. {@link World.env} builds on it; tests against servers of
 * their own use it directly.
 */
export function isolatedEnv(names: { prefix: string; group: string; table: string }): Record<string, string> {
  return {
    STREAM_PATTERN: `${names.prefix}:*`,
    DEAD_LETTER_STREAM: `${names.prefix}_failed`,
    TABLE_NAME: names.table,
    CONSUMER_GROUP_NAME: names.group,
    BATCH_TIMEOUT_SEC: "0.2",
    DISCOVERY_INTERVAL_SEC: "0.2",
  };
}

/** Creates a {@link World}; use with `await using`. */
export async function createWorld(): Promise<World> {
  const schema = uniqueName("t");
  const prefix = uniqueName("s");
  const redis = testRedis();
  const sql = testSql();
  await sql.unsafe(`CREATE SCHEMA "${schema}"`);
  const deadLetterStream = `${prefix}_failed`;
  const group = uniqueName("g");
  return {
    schema,
    table: `${schema}.sensor_readings`,
    prefix,
    deadLetterStream,
    group,
    redis,
    sql,
    env(extra = {}) {
      return {
        REDIS_URL,
        DATABASE_URL,
        ...isolatedEnv({ prefix, group, table: `${schema}.sensor_readings` }),
        HTTP_PORT: "0",
        LOG_FORMAT: "json",
        LOG_LEVEL: "info",
        STATS_INTERVAL_SEC: "1",
        ...extra,
      };
    },
    async [Symbol.asyncDispose]() {
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
        cursor = next;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== "0");
      await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await sql.end({ timeout: 5 });
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
