/**
 * Test helpers: real Redis and PostgreSQL, each test isolated by its own
 * stream keys and its own schema. No mocks.
 */
import postgres from "postgres";
import { Redis } from "ioredis";
import { readServiceFlags } from "../tools/service_flags.ts";

/** Where the test services are (override with TEST_REDIS_URL / TEST_DATABASE_URL). */
export const REDIS_URL = Deno.env.get("TEST_REDIS_URL") ?? "redis://127.0.0.1:6379/0";
export const DATABASE_URL = Deno.env.get("TEST_DATABASE_URL") ?? "postgres://postgres@127.0.0.1:5432/postgres";

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
      // The world's keys, and the markers of its dead-letter streams (`{<stream>}:dead-lettered`).
      for (const pattern of [`${prefix}*`, `{${prefix}*`]) {
        let cursor = "0";
        do {
          const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
          cursor = next;
          if (keys.length > 0) await redis.del(...keys);
        } while (cursor !== "0");
      }
      await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await sql.end({ timeout: 5 });
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

const ROOT = new URL("../", import.meta.url).pathname;

/** Files the service reads relative to its working directory (the rest are relative to the project). */
const CWD_RELATIVE = new Set([".env", "certs"]);

/**
 * The arguments of deno.json's `start` task (`deno run $(cat service.flags)
 * main.ts run`), so that every test that runs the service runs it with exactly
 * the permissions `deno task start` grants. `deno task` runs from the project
 * directory; tests run from a temporary one, so project paths in `--allow-read`
 * are made absolute (`.env` and `certs` stay relative: the service reads them
 * from its working directory). The trailing `run` is dropped: each test passes
 * its own command.
 */
export function startTaskArgs(): string[] {
  const task: string = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`)).tasks.start;
  if (task.trim() !== "deno run $(cat service.flags) main.ts run") {
    throw new Error(
      `deno.json's start task must read "deno run $(cat service.flags) main.ts run", got ${JSON.stringify(task)}`,
    );
  }
  const flags = readServiceFlags(ROOT).map((flag) => {
    const m = /^--allow-read=(.*)$/.exec(flag);
    if (!m) return flag;
    const paths = m[1]!.split(",").map((p) => (p.startsWith("/") || CWD_RELATIVE.has(p) ? p : `${ROOT}${p}`));
    return `--allow-read=${paths.join(",")}`;
  });
  return ["run", ...flags, `${ROOT}main.ts`];
}

const DENO_ARGS = startTaskArgs();

/** A running `db-writer` process with its output collected. */
export interface ServiceProcess extends AsyncDisposable {
  readonly child: Deno.ChildProcess;
  /** Every stdout line so far (JSON log lines in json mode). */
  readonly lines: string[];
  /** Every stderr line so far. */
  readonly errLines: string[];
  /** Parsed JSON log records so far (non-JSON lines skipped). */
  records(): Record<string, unknown>[];
  /** Sends a signal. */
  kill(signal?: Deno.Signal): void;
  /** Waits for exit; returns the status. */
  status: Promise<Deno.CommandStatus>;
  /** Resolves when a log record satisfies `pred`, or rejects after `timeoutMs`. */
  waitForLog(pred: (r: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
}

async function collect(stream: ReadableStream<Uint8Array>, into: string[]): Promise<void> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    rest += chunk;
    let i: number;
    while ((i = rest.indexOf("\n")) >= 0) {
      into.push(rest.slice(0, i));
      rest = rest.slice(i + 1);
    }
  }
  if (rest) into.push(rest);
}

/**
 * Starts `db-writer` with `args` and exactly `env` (plus PATH/HOME), from a
 * temporary working directory so no `.env` is picked up by accident.
 */
export function spawnService(args: string[], env: Record<string, string>, opts: { cwd?: string } = {}): ServiceProcess {
  const cwd = opts.cwd ?? Deno.makeTempDirSync({ prefix: "db-writer-test-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: [...DENO_ARGS, ...args],
    env: { PATH: Deno.env.get("PATH") ?? "", HOME: Deno.env.get("HOME") ?? "/tmp", NO_COLOR: "1", ...env },
    clearEnv: true,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const errLines: string[] = [];
  const done = Promise.all([collect(child.stdout, lines), collect(child.stderr, errLines)]);
  const status = child.status.then(async (s) => {
    await done;
    return s;
  });
  const records = () =>
    lines.flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  return {
    child,
    lines,
    errLines,
    records,
    status,
    kill(signal: Deno.Signal = "SIGTERM") {
      try {
        child.kill(signal);
      } catch {
        // already exited
      }
    },
    async waitForLog(pred, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const hit = records().find(pred);
        if (hit) return hit;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(
        `no matching log line within ${timeoutMs} ms; stdout:\n${lines.slice(-30).join("\n")}\nstderr:\n${
          errLines.slice(-30).join("\n")
        }`,
      );
    },
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGKILL");
      } catch {
        // already exited
      }
      await status;
    },
  };
}

/** Runs `db-writer` to completion and returns its exit code and output. */
export async function runCli(
  args: string[],
  env: Record<string, string>,
  opts: { cwd?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const cwd = opts.cwd ?? Deno.makeTempDirSync({ prefix: "db-writer-test-" });
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...DENO_ARGS, ...args],
    env: { PATH: Deno.env.get("PATH") ?? "", HOME: Deno.env.get("HOME") ?? "/tmp", NO_COLOR: "1", ...env },
    clearEnv: true,
    cwd,
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Polls `fn` until it returns a truthy value, or throws after `timeoutMs`. */
export async function waitFor<T>(fn: () => Promise<T> | T, timeoutMs = 20_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last value: ${JSON.stringify(last)})`);
}

/** Adds entries to a stream in one pipeline; returns their ids in order. */
export async function addEntries(
  redis: Redis,
  stream: string,
  entries: readonly Record<string, string>[],
): Promise<string[]> {
  const pipe = redis.pipeline();
  for (const e of entries) pipe.xadd(stream, "*", ...Object.entries(e).flat());
  const results = (await pipe.exec()) ?? [];
  return results.map(([err, id]) => {
    if (err) throw err;
    return String(id);
  });
}

/** Pending-entry count of a group on a stream (0 when the group does not exist). */
export async function pendingCount(redis: Redis, stream: string, group: string): Promise<number> {
  try {
    const [count] = (await redis.xpending(stream, group)) as [number, ...unknown[]];
    return Number(count);
  } catch {
    return 0;
  }
}
