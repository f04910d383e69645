/**
 * Reading new entries from a Redis Cluster. XREADGROUP needs all its keys in
 * one slot, so the streams are read in slot groups, all groups at once, and
 * without BLOCK: a blocking read holds its node's connection, and blocking on
 * one node would leave entries arriving on another waiting. When a round
 * finds nothing, the reader pauses briefly (doubling, never past the block
 * time in total) and tries again, so an idle service polls a few times per
 * block time instead of blocking.
 */
import type { Cluster } from "ioredis";
import type { Delivery } from "../ports.ts";
import { whenReady } from "./redis.ts";
import { fieldsToObject } from "./fields.ts";
import { groupBySlot } from "./slot.ts";
import { sleep } from "../async/delay.ts";

type XReply = [stream: string, entries: [id: string, fields: string[] | null][]][] | null;

/** Settings of a {@link ClusterReader}. */
export interface ClusterReaderOptions {
  readonly group: string;
  readonly consumer: string;
  /** First pause after an empty round; doubles up to {@link maxPauseMs}. */
  readonly firstPauseMs?: number;
  readonly maxPauseMs?: number;
}

/** Reads new entries (`>`) of many streams spread over the slots of a cluster. */
export class ClusterReader {
  constructor(private readonly cluster: Cluster, private readonly opts: ClusterReaderOptions) {}

  /**
   * Up to `perStream` entries of each stream, then (for streams that had that
   * many) more until `limit` in total; waits up to `blockMs` for a first entry.
   */
  async read(
    streams: readonly string[],
    perStream: number,
    limit: number,
    blockMs: number,
    signal: AbortSignal,
  ): Promise<Delivery[]> {
    await whenReady(this.cluster, 2_000);
    const deadline = Date.now() + blockMs;
    let pause = this.opts.firstPauseMs ?? 25;
    while (true) {
      const out = await this.#round(streams, perStream);
      if (out.length > 0) return await this.#fill(out, perStream, limit);
      const left = deadline - Date.now();
      if (left <= 0 || signal.aborted) return out;
      await sleep(Math.min(pause, left), signal);
      if (signal.aborted) return out;
      pause = Math.min(pause * 2, this.opts.maxPauseMs ?? 500);
    }
  }

  /** Busy streams may have more: fill the rest of the batch from them. */
  async #fill(out: Delivery[], perStream: number, limit: number): Promise<Delivery[]> {
    const counts = new Map<string, number>();
    for (const d of out) counts.set(d.stream, (counts.get(d.stream) ?? 0) + 1);
    const full = [...counts].filter(([, n]) => n === perStream).map(([s]) => s);
    const room = limit - out.length;
    if (full.length === 0 || room < full.length) return out;
    out.push(...await this.#round(full, Math.floor(room / full.length)));
    return out;
  }

  async #round(streams: readonly string[], count: number): Promise<Delivery[]> {
    // Every slot's read settles before a failure is reported, so none still
    // runs when the caller retries. Entries that the other reads delivered are
    // then pending for this consumer, and the caller re-reads them.
    const settled = await Promise.allSettled(
      groupBySlot(streams).map((keys) =>
        this.cluster.xreadgroup(
          "GROUP",
          this.opts.group,
          this.opts.consumer,
          "COUNT",
          count,
          "STREAMS",
          ...keys,
          ...keys.map(() => ">"),
        ) as Promise<XReply>
      ),
    );
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    const replies = settled.map((r) => (r as PromiseFulfilledResult<XReply>).value);
    const out: Delivery[] = [];
    for (const reply of replies) {
      for (const [stream, entries] of reply ?? []) {
        for (const [id, flat] of entries) out.push({ stream, id, fields: fieldsToObject(flat ?? []), deliveries: 1 });
      }
    }
    return out;
  }
}
