/**
 * The loop: read → decode → write → dead-letter → ack, until the stop signal.
 * On stop it finishes the batch in hand (writes, dead-letters, acks) and
 * returns; only the hard deadline can cut that short, and then the entries
 * simply stay pending for the next start or another consumer.
 */
import type { Delivery } from "./ports.ts";
import { classify, describe } from "./errors.ts";
import { backoffDelay } from "./retry.ts";
import { sleep } from "./async/delay.ts";
import { type BatchDeps, BatchProcessor } from "./batch.ts";

/** Everything the loop needs, passed in. */
export interface PipelineDeps extends BatchDeps {
  readonly processingIntervalMs: number;
  /** Batches written at the same time (each on its own connection). */
  readonly writers: number;
}

/** Runs the read → write → ack loop. */
export class Pipeline {
  #running = false;
  readonly #batches: BatchProcessor;
  /** When each batch in hand was taken up. */
  readonly #inHand = new Set<{ readonly at: number }>();
  /** The hold on each batch read and not yet finished (see Source.hold). */
  readonly #kept = new WeakMap<readonly Delivery[], Disposable>();

  constructor(private readonly deps: PipelineDeps) {
    this.#batches = new BatchProcessor(deps);
  }

  /** Milliseconds the oldest batch in hand has been in hand; 0 when none. */
  oldestBatchMs(): number {
    const now = (this.deps.now ?? Date.now)();
    let oldest = now;
    for (const b of this.#inHand) oldest = Math.min(oldest, b.at);
    return now - oldest;
  }

  /** True while the loop runs. */
  get running(): boolean {
    return this.#running;
  }

  /**
   * Consumes until `stop` aborts; `hard` (the shutdown deadline) cuts retries short.
   * Resolves with the number of entries left pending because the deadline passed.
   */
  async run(stop: AbortSignal, hard: AbortSignal): Promise<{ leftPending: number }> {
    const { source, log, stats, redisOutage } = this.deps;
    let readFailures = 0;
    const readOnce = async (): Promise<Delivery[]> => {
      const began = redisOutage.mark();
      try {
        const batch = await source.read(stop);
        // Kept this consumer's from now on: a batch read ahead waits for a writer.
        if (batch.length > 0 && source.hold) this.#kept.set(batch, source.hold(batch));
        redisOutage.ok(began, "read");
        readFailures = 0;
        return batch;
      } catch (err) {
        stats.errors++;
        if (classify(err) === "transient") redisOutage.failed(err, "read");
        else log.error("reading from Redis failed", { error: describe(err) });
        source.rescanOwnPending?.();
        await sleep(backoffDelay(readFailures++, this.deps.backoff), stop);
        return [];
      }
    };
    this.#running = true;
    try {
      // The next batch is read while earlier ones are written (up to `writers`
      // at once, each on its own connection): Redis and PostgreSQL work in
      // parallel. Every batch read before the stop signal is processed in full.
      let next: Promise<Delivery[]> | undefined;
      const inflight = new Set<Promise<void>>();
      let left = 0;
      /** An error no batch may go on after (the table lost its idempotency key). */
      let fatal: unknown;
      while (true) {
        const batch = await (next ?? (stop.aborted ? Promise.resolve([]) : readOnce()));
        next = undefined;
        if (fatal !== undefined) break;
        if (batch.length === 0) {
          if (stop.aborted) break;
          if (this.deps.processingIntervalMs > 0) await sleep(this.deps.processingIntervalMs, stop);
          continue;
        }
        const done: Promise<void> = this.processBatch(batch, hard).then((n) => {
          left += n;
        }, (err) => {
          fatal ??= err;
        }).finally(() => inflight.delete(done));
        inflight.add(done);
        if (fatal !== undefined) break;
        if (!stop.aborted) next = readOnce();
        if (inflight.size >= this.deps.writers) await Promise.race(inflight);
        if (fatal !== undefined) break;
      }
      await Promise.all(inflight);
      await next?.catch(() => {});
      if (fatal !== undefined) throw fatal;
      return { leftPending: left };
    } finally {
      this.#running = false;
    }
  }

  /**
   * Handles one batch to the end: rows committed, rejects dead-lettered, all acked.
   * Returns how many entries were left pending because `hard` aborted.
   */
  async processBatch(batch: readonly Delivery[], hard: AbortSignal): Promise<number> {
    const held = { at: (this.deps.now ?? Date.now)() };
    this.#inHand.add(held);
    const kept = this.#kept.get(batch) ?? this.deps.source.hold?.(batch);
    try {
      return await this.#batches.process(batch, hard);
    } finally {
      this.#inHand.delete(held);
      kept?.[Symbol.dispose]();
      this.#kept.delete(batch);
    }
  }
}
