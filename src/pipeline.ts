/**
 * The loop: read → decode → write → dead-letter → ack, until the stop signal.
 * On stop it finishes the batch in hand (writes, dead-letters, acks) and
 * returns; only the hard deadline can cut that short, and then the entries
 * simply stay pending for the next start or another consumer.
 */
import {
  type DeadLetter,
  type DeadLetterSink,
  type Decoded,
  type Delivery,
  entryKey,
  type Reading,
  type Sink,
  type Source,
  type StreamEntry,
  type WriteOutcome,
} from "./ports.ts";
import { decode } from "./decode/decode.ts";
import type { DecodeLimits } from "./decode/limits.ts";
import { classify, describe, SchemaError } from "./errors.ts";
import { backoffDelay, type BackoffOptions, retry, RetryAbortedError } from "./retry.ts";
import { sleep } from "./async/delay.ts";
import type { Logger } from "./log.ts";
import type { Outage } from "./ops/outage.ts";
import type { Stats } from "./ops/stats.ts";
import { FailureLatch } from "./ops/failure_latch.ts";

/** Everything the loop needs, passed in. */
export interface PipelineDeps {
  readonly source: Source;
  readonly sink: Sink;
  readonly deadLetters: DeadLetterSink;
  readonly log: Logger;
  readonly stats: Stats;
  readonly redisOutage: Outage;
  readonly dbOutage: Outage;
  readonly maxDeliveries: number;
  readonly backoff: BackoffOptions;
  readonly processingIntervalMs: number;
  /** Batches written at the same time (each on its own connection). */
  readonly writers: number;
  /** Caps on each entry (defaults when absent). */
  readonly limits?: DecodeLimits;
  /** Rules applied to each decoded reading (units, plausibility ranges); none when absent. */
  readonly check?: (reading: Reading) => Decoded;
  readonly now?: () => number;
}

const MAX_REMEMBERED_ERRORS = 10_000;

/** Runs the read → write → ack loop. */
export class Pipeline {
  #running = false;
  /** Last failure of entries kept pending, for the poison reason. */
  readonly #lastError = new Map<string, string>();
  /** A dead-letter failure, logged once (until it changes or dead letters work again). */
  readonly #deadLetterFailure: FailureLatch;

  constructor(private readonly deps: PipelineDeps) {
    this.#deadLetterFailure = new FailureLatch(deps.log, {
      failed: "cannot write dead letters; their entries stay pending (not acknowledged) until this is fixed, " +
        "and this is logged again only when it changes",
      recovered: "dead letters are written again",
    });
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
        redisOutage.ok(began);
        readFailures = 0;
        return batch;
      } catch (err) {
        stats.errors++;
        if (classify(err) === "transient") redisOutage.failed(err);
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
    const { sink, log, stats, dbOutage, redisOutage, maxDeliveries } = this.deps;
    const now = this.deps.now ?? Date.now;
    const started = now();
    stats.messagesRead += batch.length;

    const letters: DeadLetter[] = [];
    const readings: Reading[] = [];
    /** The entry of each reading, at the same index. */
    const readFrom: Delivery[] = [];
    const overLimit: Delivery[] = [];
    for (const d of batch) {
      if (d.deliveries > maxDeliveries) {
        overLimit.push(d);
        continue;
      }
      let decoded = decode(d, this.deps.limits);
      if (decoded.ok && this.deps.check) decoded = this.deps.check(decoded.reading);
      if (decoded.ok) {
        readings.push(decoded.reading);
        readFrom.push(d);
      } else letters.push({ entry: d, reason: decoded.reason, class: decoded.class });
    }

    const dbRetry = this.#retryOptions(dbOutage, hard);
    // Past MAX_DELIVERIES: dead-letter, unless the row is in fact stored (a
    // crash between commit and ack, repeated): then it only needs its ack.
    const alreadyStored: Delivery[] = [];
    if (overLimit.length > 0) {
      let stored: Set<string>;
      try {
        stored = await retry(() => sink.stored(overLimit), dbRetry);
      } catch (err) {
        return this.#leavePending(err, batch, "cannot check whether redelivered entries are stored");
      }
      for (const d of overLimit) {
        if (stored.has(entryKey(d))) {
          alreadyStored.push(d);
          continue;
        }
        const last = this.#lastError.get(entryKey(d));
        letters.push({
          entry: d,
          reason: `delivered ${d.deliveries} times without being stored (MAX_DELIVERIES=${maxDeliveries})` +
            (last ? `; last error: ${last}` : "; the service may have crashed or been killed while processing it"),
          class: "max_deliveries",
        });
      }
    }

    let outcome: WriteOutcome;
    try {
      const redelivered = batch.some((d) => d.deliveries > 1);
      const writeStarted = now();
      outcome = await retry(() => sink.write(readings, hard, { redelivered }), dbRetry);
      if (readings.length > 0) stats.writeSeconds.observe((now() - writeStarted) / 1000);
    } catch (err) {
      // The table cannot keep its promise (no idempotency key): stop, leaving everything pending.
      if (err instanceof SchemaError) throw err;
      // Not an outage, not a row's fault: keep everything pending; redelivery decides.
      for (const r of readings) this.#remember(entryKey({ stream: r.sourceStream, id: r.sourceId }), describe(err));
      return this.#leavePending(err, batch, "writing a batch failed");
    }

    let stored: StreamEntry[];
    if (outcome.deferred.length === 0 && outcome.rejected.length === 0) {
      stored = alreadyStored.length === 0 ? readFrom : [...alreadyStored, ...readFrom];
    } else {
      const entries = new Map<string, Delivery>();
      for (const d of readFrom) entries.set(entryKey(d), d);
      const unsettled = new Set<string>();
      for (const { reading, error } of outcome.deferred) {
        const k = entryKey({ stream: reading.sourceStream, id: reading.sourceId });
        unsettled.add(k);
        this.#remember(k, error);
      }
      for (const { reading, reason, class: kind } of outcome.rejected) {
        const k = entryKey({ stream: reading.sourceStream, id: reading.sourceId });
        unsettled.add(k);
        letters.push({ entry: entries.get(k)!, reason, class: kind ?? "rejected_by_database" });
      }
      if (outcome.deferred.length > 0) {
        log.warn("rows failed and stay pending for redelivery", {
          count: outcome.deferred.length,
          error: outcome.deferred[0]!.error,
        });
      }
      stored = [...alreadyStored];
      for (const [k, d] of entries) if (!unsettled.has(k)) stored.push(d);
    }

    const redisRetry = this.#retryOptions(redisOutage, hard);
    let lettered = letters.length > 0;
    try {
      let added: boolean[] = [];
      try {
        added = await retry(() => this.deps.deadLetters.send(letters), redisRetry);
        if (letters.length > 0) this.#deadLetterFailure.ok();
      } catch (err) {
        if (err instanceof RetryAbortedError) throw err;
        // Not an outage (a dead-letter key of the wrong type, say): those
        // entries stay pending until it is fixed; the stored rows are acked.
        stats.errors++;
        this.#deadLetterFailure.failed(err, { entries: letters.length });
        lettered = false;
        // Redelivered past MAX_DELIVERIES meanwhile, each still says why it was rejected.
        for (const l of letters) if (l.class !== "max_deliveries") this.#remember(entryKey(l.entry), l.reason);
      }
      await retry(() => this.deps.source.ack(stored), redisRetry);
      if (lettered) {
        stats.countDeadLetters(letters.map((l) => l.class), added);
        for (const l of letters) this.#lastError.delete(entryKey(l.entry));
      }
    } catch (err) {
      return this.#leavePending(err, batch, "dead-lettering or acknowledging failed");
    }

    stats.rowsWritten += outcome.inserted;
    stats.duplicates += outcome.duplicates;
    stats.batches++;
    stats.batchSizes.observe(batch.length);
    stats.lastBatchMs = now() - started;
    if (lettered) {
      log.warn("entries dead-lettered", {
        count: letters.length,
        first_reason: letters[0]!.reason,
        first_entry: `${letters[0]!.entry.stream} ${letters[0]!.entry.id}`,
      });
    }
    log.debug("batch stored", {
      entries: batch.length,
      inserted: outcome.inserted,
      duplicates: outcome.duplicates,
      dead_lettered: letters.length,
      ms: stats.lastBatchMs,
    });
    return 0;
  }

  /**
   * A batch that cannot be finished now stays pending (redelivered later).
   * Returns what {@link processBatch} returns: the entries left because the
   * shutdown deadline passed, or 0 for any other failure (logged).
   */
  #leavePending(err: unknown, batch: readonly Delivery[], what: string): number {
    if (err instanceof RetryAbortedError) return batch.length;
    this.deps.stats.errors++;
    this.deps.log.error(`${what}; the entries stay pending and will be redelivered`, {
      error: describe(err),
      entries: batch.length,
    });
    return 0;
  }

  /** Retry transient failures of one dependency until `hard` aborts, tracking its outage. */
  #retryOptions(outage: Outage, hard: AbortSignal) {
    return {
      ...this.deps.backoff,
      signal: hard,
      shouldRetry: (err: unknown) => classify(err) === "transient",
      onFailure: (err: unknown) => {
        this.deps.stats.errors++;
        outage.failed(err);
      },
      onSuccess: () => outage.ok(),
    };
  }

  #remember(k: string, error: string): void {
    if (this.#lastError.size >= MAX_REMEMBERED_ERRORS) {
      const oldest = this.#lastError.keys().next().value;
      if (oldest !== undefined) this.#lastError.delete(oldest);
    }
    this.#lastError.set(k, error);
  }
}
