/**
 * Entries delivered but not acknowledged: this consumer's own (re-read from
 * `0` after a start or an error, before anything new) and other consumers'
 * that stayed idle past CLAIM_MIN_IDLE_MS (taken over with XAUTOCLAIM).
 * Each comes with its delivery count, which MAX_DELIVERIES judges.
 */
import type { Delivery } from "../ports.ts";
import type { Logger } from "../log.ts";
import type { RedisClient } from "./redis.ts";
import { fieldsToObject } from "./fields.ts";

/** One entry as XREADGROUP / XAUTOCLAIM return it (fields null when it was deleted). */
export type XEntry = [id: string, fields: string[] | null];

/** Settings of a {@link PendingReader}. */
export interface PendingOptions {
  readonly group: string;
  readonly consumer: string;
  /** Most entries per call (read at each call: it follows the entries' sizes). */
  readonly batchSize: number;
  readonly claimMinIdleMs: number;
  readonly log: Logger;
}

/** Reads pending entries in batches, remembering where each scan has got to. */
export class PendingReader {
  /** Per stream: where the scan of this consumer's own pending entries has got to; absent when done. */
  #own = new Map<string, string>();
  #ownStarted = false;
  /** Per stream: the XAUTOCLAIM cursor of the current sweep. */
  #claimCursor = new Map<string, string>();

  constructor(private readonly redis: RedisClient, private readonly opts: PendingOptions) {}

  /** Starts the scan of own pending entries again at the next {@link readOwn}. */
  rescan(): void {
    this.#ownStarted = false;
  }

  /** Up to one batch of this consumer's own pending entries; empty once all were re-read. */
  async readOwn(streams: readonly string[]): Promise<Delivery[]> {
    if (!this.#ownStarted) {
      this.#own = new Map(streams.map((s) => [s, "0-0"]));
      this.#ownStarted = true;
    }
    const out: Delivery[] = [];
    for (const [stream, cursor] of this.#own) {
      const reply = (await this.redis.xreadgroup(
        "GROUP",
        this.opts.group,
        this.opts.consumer,
        "COUNT",
        this.opts.batchSize - out.length,
        "STREAMS",
        stream,
        cursor,
      )) as [string, XEntry[]][] | null;
      const entries = reply?.[0]?.[1] ?? [];
      if (entries.length === 0) {
        this.#own.delete(stream);
      } else {
        this.#own.set(stream, entries[entries.length - 1]![0]);
        out.push(...(await this.#withCounts(stream, entries)));
      }
      if (out.length >= this.opts.batchSize) break;
    }
    if (out.length > 0) this.opts.log.info("re-reading own pending entries", { count: out.length });
    return out;
  }

  /** Up to one batch of entries other consumers left idle past CLAIM_MIN_IDLE_MS, now this consumer's. */
  async claimIdle(streams: readonly string[]): Promise<Delivery[]> {
    const out: Delivery[] = [];
    for (const stream of streams) {
      const cursor = this.#claimCursor.get(stream) ?? "0-0";
      const reply = (await this.redis.xautoclaim(
        stream,
        this.opts.group,
        this.opts.consumer,
        this.opts.claimMinIdleMs,
        cursor,
        "COUNT",
        this.opts.batchSize - out.length,
      )) as [string, XEntry[], string[]?];
      const [next, entries, deleted = []] = reply;
      if (next === "0-0") this.#claimCursor.delete(stream);
      else this.#claimCursor.set(stream, next);
      await this.#ackVanished(stream, deleted);
      if (entries.length > 0) out.push(...(await this.#withCounts(stream, entries)));
      if (out.length >= this.opts.batchSize) break;
    }
    if (out.length > 0) this.opts.log.info("claimed idle pending entries", { count: out.length });
    return out;
  }

  /** Entries deleted from the stream while pending: nothing is left to store; ack and say so. */
  async #ackVanished(stream: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.redis.xack(stream, this.opts.group, ...ids);
    this.opts.log.warn("pending entries were deleted from the stream before being stored", {
      stream,
      count: ids.length,
      ids: ids.slice(0, 10),
    });
  }

  /** Adds delivery counts (from XPENDING) to entries re-read or claimed. */
  async #withCounts(stream: string, entries: XEntry[]): Promise<Delivery[]> {
    const live = entries.filter((e): e is [string, string[]] => e[1] !== null);
    await this.#ackVanished(stream, entries.filter((e) => e[1] === null).map((e) => e[0]));
    if (live.length === 0) return [];
    const first = live[0]![0], last = live[live.length - 1]![0];
    const pending = (await this.redis.xpending(
      stream,
      this.opts.group,
      first,
      last,
      live.length * 4 + 100,
      this.opts.consumer,
    )) as [string, string, number, number][];
    const counts = new Map(pending.map((p) => [p[0], Number(p[3])]));
    return live.map(([id, flat]) => ({ stream, id, fields: fieldsToObject(flat), deliveries: counts.get(id) ?? 1 }));
  }
}
