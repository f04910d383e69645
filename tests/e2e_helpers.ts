/**
 * Helpers for the end-to-end tests (pipeline, service, migrate): queries of
 * what ended where (rows, dead letters, pending entries), stopping a service
 * within a bound, and a free port.
 */
import type { Redis } from "ioredis";
import type { ServiceProcess, World } from "./helpers.ts";

/** One row of the readings table, with the instant rendered exactly in UTC. */
export interface Row {
  id: number;
  utc: string;
  device_id: string;
  sensor_type: string;
  value: number;
  metadata: Record<string, unknown> | null;
  source_stream: string | null;
  source_id: string | null;
}

/** Every row of the world's table, ordered by id; `[]` while the table does not exist yet. */
export async function tableRows(world: World, where = "true"): Promise<Row[]> {
  try {
    const rows = await world.sql.unsafe(
      `SELECT id, to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS utc,
              device_id, sensor_type, value, metadata, source_stream, source_id
         FROM ${world.table} WHERE ${where} ORDER BY id`,
    );
    return rows.map((r) => ({
      id: Number(r.id),
      utc: String(r.utc),
      device_id: String(r.device_id),
      sensor_type: String(r.sensor_type),
      value: Number(r.value),
      metadata: r.metadata as Record<string, unknown> | null,
      source_stream: r.source_stream as string | null,
      source_id: r.source_id as string | null,
    }));
  } catch (err) {
    if ((err as { code?: string }).code === "42P01") return [];
    throw err;
  }
}

/** Row count and distinct (source_stream, source_id) count; zeros while the table does not exist. */
export async function rowCounts(world: World): Promise<{ rows: number; distinct: number }> {
  try {
    const [r] = await world.sql.unsafe(
      `SELECT count(*)::int AS rows, count(DISTINCT (source_stream, source_id))::int AS distinct
         FROM ${world.table}`,
    );
    return { rows: Number(r!.rows), distinct: Number(r!.distinct) };
  } catch (err) {
    if ((err as { code?: string }).code === "42P01") return { rows: 0, distinct: 0 };
    throw err;
  }
}

/** A stream entry as read back with XRANGE. */
export interface Entry {
  id: string;
  fields: Record<string, string>;
}

function toObject(flat: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}

/** Every entry of a stream (between `start` and `end`), in order. */
export async function streamEntries(redis: Redis, stream: string, start = "-", end = "+"): Promise<Entry[]> {
  const out: Entry[] = [];
  let from = start;
  while (true) {
    const page = await redis.xrange(stream, from, end, "COUNT", 5000);
    for (const [id, flat] of page) out.push({ id, fields: toObject(flat) });
    if (page.length < 5000) return out;
    from = `(${page[page.length - 1]![0]}`;
  }
}

/** The ids of every entry still pending for `group` on `stream` (empty when the group does not exist). */
export async function pendingIds(redis: Redis, stream: string, group: string): Promise<string[]> {
  const out: string[] = [];
  let from = "-";
  try {
    while (true) {
      const page = (await redis.xpending(stream, group, from, "+", 5000)) as [string, string, number, number][];
      for (const p of page) out.push(p[0]);
      if (page.length < 5000) return out;
      from = `(${page[page.length - 1]![0]}`;
    }
  } catch (err) {
    if (String((err as Error).message).startsWith("NOGROUP")) return out;
    throw err;
  }
}

/** The consumer groups of a stream as objects, or the error message when XINFO GROUPS fails. */
export async function groupsOf(redis: Redis, stream: string): Promise<Record<string, string>[] | string> {
  try {
    const raw = (await redis.xinfo("GROUPS", stream)) as unknown[][];
    return raw.map((flat) => toObject(flat.map(String)));
  } catch (err) {
    return (err as Error).message;
  }
}

/** The last-delivered-id of `group` on `stream`. */
export async function lastDeliveredId(redis: Redis, stream: string, group: string): Promise<string | undefined> {
  const groups = await groupsOf(redis, stream);
  if (typeof groups === "string") return undefined;
  return groups.find((g) => g.name === group)?.["last-delivered-id"];
}

/** A free TCP port on 127.0.0.1 (listened on once, then closed). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = l.addr;
  l.close();
  return port;
}

/** Resolves with the exit status, or rejects when the process has not exited within `ms`. */
export async function exitWithin(
  svc: ServiceProcess,
  ms: number,
  what = "the service to exit",
): Promise<Deno.CommandStatus> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      svc.status,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `timed out after ${ms} ms waiting for ${what}; stdout:\n${svc.lines.slice(-20).join("\n")}\nstderr:\n${
                  svc.errLines.slice(-20).join("\n")
                }`,
              ),
            ),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Sends SIGTERM and returns the exit code, which must come within `ms`. */
export async function stopService(svc: ServiceProcess, ms = 15_000): Promise<number> {
  svc.kill("SIGTERM");
  return (await exitWithin(svc, ms)).code;
}

/** Log records with this exact message. */
export function logsWith(svc: ServiceProcess, message: string): Record<string, unknown>[] {
  return svc.records().filter((r) => r.message === message);
}

/** Predicate for `waitForLog`: the record's message is exactly `message`. */
export const message = (m: string) => (r: Record<string, unknown>): boolean => r.message === m;

/** A logger that drops everything (for classes constructed directly in tests). */
export const silentLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

/** Creates `table` exactly as the previous (Python) service did, with no rows. */
export async function createPreviousServiceTable(world: World, table = world.table): Promise<void> {
  await world.sql.unsafe(`
    CREATE TABLE ${table} (
      id BIGSERIAL PRIMARY KEY,
      timestamp TIMESTAMPTZ NOT NULL,
      device_id VARCHAR(100) NOT NULL,
      sensor_type VARCHAR(100) NOT NULL,
      value DOUBLE PRECISION NOT NULL,
      metadata JSONB,
      created_at TIMESTAMPTZ DEFAULT NOW()
    )`);
}
