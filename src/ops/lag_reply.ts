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
