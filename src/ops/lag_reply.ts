/** Consumer lag and pending entries as Redis reports them (XINFO GROUPS), read into plain values. Pure. */
import type { LagTotals } from "./stats.ts";

/** One stream's backlog for the consumer group. */
export interface StreamLag {
  readonly stream: string;
  /** Entries not yet delivered to the group (Redis ≥ 7); null when Redis cannot tell (after XDEL, say). */
  readonly lag: number | null;
  /** Entries delivered but not acknowledged. */
  readonly pending: number;
}

/** What a refresh found. */
export interface LagSnapshot extends LagTotals {
  readonly streams: readonly StreamLag[];
  /** When it was taken (ms), from the clock passed in. */
  readonly at: number;
}

/** Reads one group's `lag` and `pending` out of an XINFO GROUPS reply (pure). */
export function groupLag(reply: unknown, group: string): { lag: number | null; pending: number } | undefined {
  if (!Array.isArray(reply)) return undefined;
  for (const g of reply) {
    if (!Array.isArray(g)) continue;
    const info: Record<string, unknown> = {};
    for (let i = 0; i + 1 < g.length; i += 2) info[String(g[i])] = g[i + 1];
    if (String(info.name) !== group) continue;
    const lag = info.lag === null || info.lag === undefined ? null : Number(info.lag);
    return { lag: lag !== null && Number.isFinite(lag) ? lag : null, pending: Number(info.pending ?? 0) };
  }
  return undefined;
}

/** Entries counted one by one (inside Redis) when its own lag cannot be trusted; beyond, an estimate. */
export const LAG_COUNT_CAP = 500;

/**
 * One stream's numbers for one group, in one atomic step: `{pending, lag
 * (Redis's, or false), length, last-delivered-id, last-generated-id,
 * first-entry-id (or false), counted}`, where `counted` is how many entries
 * follow last-delivered-id (up to LAG_COUNT_CAP + 1) when the group is
 * behind, else -1; nil when the group does not exist. KEYS[1] the stream,
 * ARGV[1] the group, ARGV[2] the cap.
 */
export const GROUP_BACKLOG = `
local g
for _, grp in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local f = {}
  for i = 1, #grp, 2 do f[grp[i]] = grp[i + 1] end
  if f['name'] == ARGV[1] then g = f break end
end
if not g then return nil end
local s = {}
local info = redis.call('XINFO', 'STREAM', KEYS[1])
for i = 1, #info, 2 do s[info[i]] = info[i + 1] end
local first = false
if type(s['first-entry']) == 'table' then first = s['first-entry'][1] end
local counted = -1
if g['last-delivered-id'] ~= s['last-generated-id'] and s['length'] > 0 then
  counted = #redis.call('XRANGE', KEYS[1], '(' .. g['last-delivered-id'], '+', 'COUNT', tonumber(ARGV[2]) + 1)
end
return {g['pending'], g['lag'] or false, s['length'], g['last-delivered-id'], s['last-generated-id'], first, counted}`;

/** Compares two stream ids (`ms-seq`). */
function compareIds(a: string, b: string): number {
  const [am = 0n, as = 0n] = a.split("-").map((x) => BigInt(x));
  const [bm = 0n, bs = 0n] = b.split("-").map((x) => BigInt(x));
  return am !== bm ? (am < bm ? -1 : 1) : as === bs ? 0 : as < bs ? -1 : 1;
}

/**
 * The group's lag from a {@link GROUP_BACKLOG} reply (pure): 0 once it has
 * been delivered up to the last id; every entry when it is behind the first
 * one; counted when few; else Redis's own figure, at most the stream's length
 * (after the producer trims, Redis 7.0 keeps counting entries trimmed before
 * delivery), or null when Redis cannot tell either. Undefined: no such group.
 */
export function backlogLag(reply: unknown): { lag: number | null; pending: number } | undefined {
  if (!Array.isArray(reply)) return undefined;
  const [pendingRaw, redisLagRaw, lengthRaw, delivered, generated, first, countedRaw] = reply;
  const pending = Number(pendingRaw ?? 0), length = Number(lengthRaw ?? 0), counted = Number(countedRaw ?? -1);
  const redisLag = redisLagRaw === false || redisLagRaw === null || redisLagRaw === undefined
    ? null
    : Number(redisLagRaw);
  if (length === 0 || compareIds(String(delivered), String(generated)) >= 0) return { lag: 0, pending };
  if (typeof first === "string" && compareIds(String(delivered), first) < 0) return { lag: length, pending };
  if (counted >= 0 && counted <= LAG_COUNT_CAP) return { lag: counted, pending };
  if (redisLag !== null && Number.isFinite(redisLag)) return { lag: Math.min(redisLag, length), pending };
  return { lag: null, pending };
}
