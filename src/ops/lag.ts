/**
 * Consumer lag and pending entries per input stream (XINFO GROUPS and
 * STREAM in one script, see lag_reply.ts),
 * refreshed on an interval (never per scrape), so that /metrics and the
 * summary log line cost Redis nothing extra.
 */
import { backlogLag, GROUP_BACKLOG, LAG_COUNT_CAP, type LagSnapshot, type StreamLag } from "./lag_reply.ts";
import type { LagTotals } from "./stats.ts";
import { sleep } from "../async/delay.ts";
import type { Logger } from "../log.ts";
import { describe } from "../errors.ts";
import { isCluster, type RedisClient } from "../source/redis.ts";

/** Keeps the latest {@link LagSnapshot} of the input streams. */
export class LagMonitor {
  #snapshot: LagSnapshot | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly opts: {
      readonly group: string;
      /** The current input streams (discovery's list). */
      readonly streams: () => readonly string[];
      /** False until the streams have been looked for: until then the lag is unknown, not 0 (default: known). */
      readonly scanned?: () => boolean;
      readonly intervalMs: number;
      readonly log: Logger;
      readonly now?: () => number;
    },
  ) {}

  /** The last snapshot, or undefined before the first refresh succeeded. */
  get snapshot(): LagSnapshot | undefined {
    return this.#snapshot;
  }

  /** Totals of the last snapshot (for the summary line). */
  totals(): LagTotals | undefined {
    const s = this.#snapshot;
    return s && { lag: s.lag, pending: s.pending };
  }

  /** Asks Redis once (one pipelined round trip for every stream); undefined while the streams are unknown. */
  async refresh(): Promise<LagSnapshot | undefined> {
    if (this.opts.scanned?.() === false) return undefined;
    const keys = [...this.opts.streams()];
    const streams: StreamLag[] = [];
    if (keys.length > 0) {
      const results = await this.#groupsOf(keys);
      keys.forEach((stream, i) => {
        const [err, reply] = results[i] ?? [null, undefined];
        if (err) return; // the stream vanished since discovery: nothing to wait for
        const found = backlogLag(reply);
        if (found) streams.push({ stream, ...found });
      });
    }
    // One stream whose lag cannot be told makes the total unknown too (absent, not too low).
    let lag: number | null = 0, pending = 0;
    for (const s of streams) {
      pending += s.pending;
      lag = lag === null || s.lag === null ? null : lag + s.lag;
    }
    this.#snapshot = { streams, lag, pending, at: (this.opts.now ?? Date.now)() };
    return this.#snapshot;
  }

  /** {@link GROUP_BACKLOG} of each key, as `[error, reply]` pairs in key order. */
  async #groupsOf(keys: readonly string[]): Promise<[Error | null, unknown][]> {
    if (isCluster(this.redis)) {
      // A pipeline may not span nodes: ask each stream's node, all at once.
      const redis = this.redis;
      return await Promise.all(keys.map((k) =>
        redis.eval(GROUP_BACKLOG, 1, k, this.opts.group, LAG_COUNT_CAP).then(
          (reply): [Error | null, unknown] => [null, reply],
          (err): [Error | null, unknown] => [err as Error, undefined],
        )
      ));
    }
    const pipe = this.redis.pipeline();
    for (const k of keys) pipe.eval(GROUP_BACKLOG, 1, k, this.opts.group, LAG_COUNT_CAP);
    return (await pipe.exec()) ?? [];
  }

  /** Refreshes every `intervalMs` until `signal` aborts; failures are logged at DEBUG and retried next time. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      let measured = true;
      try {
        measured = (await this.refresh()) !== undefined;
      } catch (err) {
        this.opts.log.debug("consumer lag refresh failed", { error: describe(err) });
      }
      // Until the streams are known, look again soon: the first figure should not wait a whole interval.
      await sleep(measured ? this.opts.intervalMs : Math.min(this.opts.intervalMs, 250), signal);
    }
  }
}
