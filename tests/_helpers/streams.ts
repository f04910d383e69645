/** Redis stream helpers for tests: adding entries and counting pending ones. */
import type { Redis } from "ioredis";

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

/** The shortest idle time (ms) of the entries pending for `group` on `stream` (Infinity when none). */
export async function minPendingIdleMs(redis: Redis, stream: string, group: string): Promise<number> {
  const page = (await redis.xpending(stream, group, "-", "+", 10_000)) as [string, string, number, number][];
  return Math.min(...page.map((p) => Number(p[2])));
}

/** How long (ms) `consumer` of `group` on `stream` has been idle (undefined when it does not exist). */
export async function consumerIdleMs(
  redis: Redis,
  stream: string,
  group: string,
  consumer: string,
): Promise<number | undefined> {
  const raw = (await redis.xinfo("CONSUMERS", stream, group)) as unknown[][];
  const info = raw.map((flat) => toObject(flat.map(String))).find((c) => c.name === consumer);
  return info ? Number(info.idle) : undefined;
}
