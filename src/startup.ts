/**
 * The start-up checks before the service consumes: the schema (migrated when
 * MIGRATE_ON_START), the target table's shape, and Redis answering with the
 * credentials given. Outages (refused or timed-out connections, a server
 * still starting) are waited out with the outage line; what waiting cannot
 * cure (a database that does not exist, refused credentials, a table of the
 * wrong shape, a migration that cannot apply) ends the start with a
 * {@link StartupError}.
 */
import {
  classify,
  describe,
  incurableAtStart,
  MigrationError,
  redisErrorCode,
  SchemaError,
  sqlState,
} from "./errors.ts";
import { checkIdempotencyKey } from "./sink/schema_check.ts";
import { retry } from "./retry.ts";
import type { Logger } from "./log.ts";
import type { Outage } from "./ops/outage.ts";
import type { Sql } from "./sink/client.ts";
import { quoteTable, tableLabel, type TableName } from "./sink/table.ts";
import type { Prepared } from "./sink/migrations/prepare.ts";
import { type RedisClient, whenReady } from "./source/redis.ts";

/** A start-up failure that waiting will not fix; `what` is the one-line log message. */
export class StartupError extends Error {
  override name = "StartupError";
  constructor(readonly what: string, readonly dependency: "postgres" | "redis", cause: unknown) {
    super(`${what}: ${describe(cause)}`, { cause });
  }
}

/** The columns the sink writes, as one query that fails (42P01, 42703) when the table does not have them. */
export function tableShapeQuery(table: TableName): string {
  return `SELECT "timestamp", device_id, sensor_type, value, metadata, source_stream, source_id ` +
    `FROM ${quoteTable(table)} LIMIT 0`;
}

/** What the start-up checks need. */
export interface StartupDeps {
  readonly sql: Sql;
  readonly redis: RedisClient;
  readonly table: TableName;
  /** Migrates the table (MIGRATE_ON_START) or checks a table it does not own (see prepare.ts). */
  readonly prepareTable: () => Promise<Prepared>;
  /** Check that the table has the columns the readings layout writes (the telemetry check is in prepareTable). */
  readonly checkColumns: boolean;
  /** Check that the readings table has its idempotency index (source_stream, source_id, "timestamp"). */
  readonly checkIdempotencyKey: boolean;
  readonly dbOutage: Outage;
  /** The refusal (WRONGPASS, NOAUTH, NOPERM) a Redis connection met before the start, if any. */
  readonly redisRefused?: () => unknown;
  readonly backoff: { readonly initialMs: number; readonly maxMs: number };
  readonly log: Logger;
}

/**
 * Runs the checks; an outage during the migration is retried until `stop` aborts.
 * @throws {StartupError} for a failure waiting cannot cure.
 * @throws {RetryAbortedError} when `stop` aborts while waiting.
 */
export async function prepareStart(deps: StartupDeps, stop: AbortSignal): Promise<void> {
  const { sql, redis, table, dbOutage, backoff, log } = deps;
  const attempt = <T>(what: string, outage: Outage, fn: () => Promise<T>): Promise<T> =>
    retry(fn, {
      ...backoff,
      signal: stop,
      shouldRetry: (err) => {
        const cause = err instanceof MigrationError ? err.cause : err;
        return classify(cause) === "transient" && !incurableAtStart(cause);
      },
      onFailure: (err) => outage.failed(err),
      onSuccess: () => outage.ok(),
    }).catch((err) => {
      throw err instanceof Error && err.name === "RetryAbortedError"
        ? err
        : new StartupError(whatFailed(err, what), "postgres", err);
    });
  const prepared = await attempt("migration failed", dbOutage, deps.prepareTable);
  if (prepared.kind === "migrated") {
    log.info("schema up to date", { table: tableLabel(table), applied: prepared.applied });
  }
  if (prepared.kind === "checked") {
    log.info("table checked: it has what db-writer needs; left as it is", { table: tableLabel(table) });
  }
  // Without a migration, an outage now is left to the pipeline (it waits it out
  // while reading); only what waiting cannot cure stops the start.
  if (deps.checkColumns) {
    await once(
      "postgres",
      "the table does not have the columns db-writer writes",
      () => sql.unsafe(tableShapeQuery(table)).execute(),
    );
  }
  if (deps.checkIdempotencyKey) {
    // A missing index ends the start (SchemaError); an outage now is left to the pipeline, and should the
    // index be missing then, the first redelivery stops the service (42P10, see sink/split.ts).
    try {
      await checkIdempotencyKey(sql, table);
    } catch (err) {
      if (err instanceof SchemaError || classify(err) !== "transient") throw err;
      log.debug("idempotency index not checked: postgres unavailable", { error: describe(err) });
    }
  }
  await once("redis", "redis did not answer PING", async () => {
    try {
      await whenReady(redis, 10_000);
      await redis.ping();
    } catch (err) {
      // The PING may fail for a reason of its own (retries used up while the client reconnects) after the
      // connection itself was refused the credentials: that refusal is the answer.
      throw deps.redisRefused?.() ?? err;
    }
  });

  async function once(dependency: "postgres" | "redis", what: string, fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      if (sqlState(err) === "42P01") {
        // Without MIGRATE_ON_START, a migration job may be creating it right now: wait for it, as for an outage.
        log.warn("the table does not exist yet; waiting for it (run `migrate up`, or set MIGRATE_ON_START=true)", {
          table: tableLabel(table),
        });
        return;
      }
      if (incurableAtStart(err)) throw new StartupError(whatFailed(err, what), dependency, err);
      log.debug("start-up check failed; the pipeline will wait for it", { check: what, error: describe(err) });
    }
  }
}

/** The one-line message for a start-up failure: the cause first, else `fallback`. */
function whatFailed(err: unknown, fallback: string): string {
  if (err instanceof MigrationError) return fallback;
  const state = sqlState(err);
  if (state === "3D000") return "cannot start: the database does not exist";
  if (state?.startsWith("28")) return "cannot start: postgres refused the credentials";
  if (state === "42501") return "cannot start: postgres refused a permission";
  const redisCode = redisErrorCode(err);
  if (redisCode !== undefined) return `cannot start: redis refused the credentials (${redisCode})`;
  return `cannot start: ${fallback}`;
}
