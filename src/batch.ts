/**
 * One batch to the end, in named steps: sort (decode, past MAX_DELIVERIES),
 * settle what was delivered too often, write the readings, settle the write's
 * outcome, then dead-letter and acknowledge. Any step that cannot finish now
 * leaves the whole batch pending (redelivered later).
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
import { decode, keyNamesCache } from "./decode/decode.ts";
import type { DecodeLimits } from "./decode/limits.ts";
import { describe, SchemaError } from "./errors.ts";
import { type BackoffOptions, retry, RetryAbortedError } from "./retry.ts";
import type { Logger } from "./log.ts";
import { attempt } from "./async/attempt.ts";
import type { Outage } from "./ops/outage.ts";
import type { Stats } from "./ops/stats.ts";
import { FailureLatch } from "./ops/failure_latch.ts";
import { LastErrors } from "./ops/last_errors.ts";

/** What a batch needs, passed in (a subset of the pipeline's dependencies). */
export interface BatchDeps {
  readonly source: Source;
  readonly sink: Sink;
  readonly deadLetters: DeadLetterSink;
  readonly log: Logger;
  readonly stats: Stats;
  readonly redisOutage: Outage;
  readonly dbOutage: Outage;
  readonly maxDeliveries: number;
  readonly backoff: BackoffOptions;
  /** Longest one statement may take before it is cancelled and retried as an outage (WRITE_TIMEOUT_SEC). */
  readonly writeTimeoutMs: number;
  readonly limits?: DecodeLimits;
  /** Rules applied to each decoded reading (units, plausibility ranges); none when absent. */
  readonly check?: (reading: Reading) => Decoded;
  readonly now?: () => number;
}

/** A batch sorted by what must become of each entry. */
interface Sorted {
  readonly letters: DeadLetter[];
  readonly readings: Reading[];
  /** The entry of each reading, at the same index. */
  readonly readFrom: Delivery[];
  readonly overLimit: Delivery[];
}

/** A step that could not finish: the batch stays pending. */
class LeftPending {
  constructor(readonly err: unknown, readonly what: string) {}
}

/** Processes batches; remembers the last failure of entries kept pending, for the poison reason. */
export class BatchProcessor {
  readonly #lastError = new LastErrors();
  /** What each stream key gives its readings, worked out once per key. */
  readonly #keys = keyNamesCache();
  /** A dead-letter failure, logged once (until it changes or dead letters work again). */
  readonly #deadLetterFailure: FailureLatch;

  constructor(private readonly deps: BatchDeps) {
    this.#deadLetterFailure = new FailureLatch(deps.log, {
      failed: "cannot write dead letters; their entries stay pending (not acknowledged) until this is fixed, " +
        "and this is logged again only when it changes",
      recovered: "dead letters are written again",
    });
  }

  /**
   * Handles one batch to the end: rows committed, rejects dead-lettered, all acked.
   * Returns how many entries were left pending because `hard` aborted.
   */
  async process(batch: readonly Delivery[], hard: AbortSignal): Promise<number> {
    const started = this.#now();
    this.deps.stats.messagesRead += batch.length;
    try {
      const sorted = this.#sort(batch);
      const alreadyStored = await this.#settleOverLimit(sorted, hard);
      const outcome = await this.#write(batch, sorted.readings, hard);
      const stored = this.#settleOutcome(sorted, outcome, alreadyStored);
      const lettered = await this.#deadLetterAndAck(sorted.letters, stored, hard);
      this.#record(batch, lettered ? sorted.letters : [], outcome, started);
      return 0;
    } catch (err) {
      if (err instanceof LeftPending) return this.#leavePending(err.err, batch, err.what);
      throw err;
    }
  }

  /** Decodes each entry; those past MAX_DELIVERIES are set aside undecoded. */
  #sort(batch: readonly Delivery[]): Sorted {
    const sorted: Sorted = { letters: [], readings: [], readFrom: [], overLimit: [] };
    for (const d of batch) {
      if (d.deliveries > this.deps.maxDeliveries) {
        sorted.overLimit.push(d);
        continue;
      }
      let decoded = decode(d, this.deps.limits, this.#keys);
      if (decoded.ok && this.deps.check) decoded = this.deps.check(decoded.reading);
      if (decoded.ok) {
        sorted.readings.push(decoded.reading);
        sorted.readFrom.push(d);
      } else sorted.letters.push({ entry: d, reason: decoded.reason, class: decoded.class });
    }
    return sorted;
  }

  /**
   * Past MAX_DELIVERIES: dead-letter, unless the row is in fact stored (a
   * crash between commit and ack, repeated): then it only needs its ack.
   * Returns those already stored.
   */
  async #settleOverLimit(sorted: Sorted, hard: AbortSignal): Promise<Delivery[]> {
    const { overLimit, letters } = sorted;
    if (overLimit.length === 0) return [];
    let stored: Set<string>;
    try {
      stored = await retry(
        attempt(hard, this.deps.writeTimeoutMs, "looking up stored entries", () => this.deps.sink.stored(overLimit)),
        this.deps.dbOutage.retrying(this.deps.backoff, hard, "lookup", () => this.deps.stats.errors++),
      );
    } catch (err) {
      throw new LeftPending(err, "cannot check whether redelivered entries are stored");
    }
    const alreadyStored: Delivery[] = [];
    for (const d of overLimit) {
      if (stored.has(entryKey(d))) {
        alreadyStored.push(d);
        continue;
      }
      const last = this.#lastError.get(entryKey(d));
      letters.push({
        entry: d,
        reason: `delivered ${d.deliveries} times without being stored (MAX_DELIVERIES=${this.deps.maxDeliveries})` +
          (last ? `; last error: ${last}` : "; the service may have crashed or been killed while processing it"),
        class: "max_deliveries",
      });
    }
    return alreadyStored;
  }

  /** Writes the readings, retrying outages until `hard` aborts. */
  async #write(batch: readonly Delivery[], readings: readonly Reading[], hard: AbortSignal): Promise<WriteOutcome> {
    try {
      const redelivered = batch.some((d) => d.deliveries > 1);
      const writeStarted = this.#now();
      const outcome = await retry(
        attempt(
          hard,
          this.deps.writeTimeoutMs,
          "writing a batch",
          (signal) => this.deps.sink.write(readings, signal, { redelivered }),
        ),
        this.deps.dbOutage.retrying(this.deps.backoff, hard, "write", () => this.deps.stats.errors++),
      );
      if (readings.length > 0) this.deps.stats.writeSeconds.observe((this.#now() - writeStarted) / 1000);
      return outcome;
    } catch (err) {
      // The table cannot keep its promise (no idempotency key): stop, leaving everything pending.
      if (err instanceof SchemaError) throw err;
      // Not an outage, not a row's fault: keep everything pending; redelivery decides.
      for (const r of readings) {
        this.#lastError.remember(entryKey({ stream: r.sourceStream, id: r.sourceId }), describe(err));
      }
      throw new LeftPending(err, "writing a batch failed");
    }
  }

  /**
   * Sorts the write's outcome: refused rows join the dead letters, deferred
   * ones stay pending; returns the entries to acknowledge.
   */
  #settleOutcome(sorted: Sorted, outcome: WriteOutcome, alreadyStored: Delivery[]): StreamEntry[] {
    const { readFrom, letters } = sorted;
    if (outcome.deferred.length === 0 && outcome.rejected.length === 0) {
      return alreadyStored.length === 0 ? readFrom : [...alreadyStored, ...readFrom];
    }
    const entries = new Map<string, Delivery>();
    for (const d of readFrom) entries.set(entryKey(d), d);
    const unsettled = new Set<string>();
    for (const { reading, error } of outcome.deferred) {
      const k = entryKey({ stream: reading.sourceStream, id: reading.sourceId });
      unsettled.add(k);
      this.#lastError.remember(k, error);
    }
    for (const { reading, reason, class: kind } of outcome.rejected) {
      const k = entryKey({ stream: reading.sourceStream, id: reading.sourceId });
      unsettled.add(k);
      letters.push({ entry: entries.get(k)!, reason, class: kind ?? "rejected_by_database" });
    }
    if (outcome.deferred.length > 0) {
      this.deps.log.warn("rows failed and stay pending for redelivery", {
        count: outcome.deferred.length,
        error: outcome.deferred[0]!.error,
      });
    }
    const stored: StreamEntry[] = [...alreadyStored];
    for (const [k, d] of entries) if (!unsettled.has(k)) stored.push(d);
    return stored;
  }

  /**
   * Dead-letters the rejects (each added before its ack, in one script), then
   * acknowledges the stored entries. Returns false when the dead letters could
   * not be written (not an outage: a dead-letter key of the wrong type, say):
   * those entries stay pending until it is fixed, the stored rows are acked.
   */
  async #deadLetterAndAck(letters: DeadLetter[], stored: StreamEntry[], hard: AbortSignal): Promise<boolean> {
    const { stats } = this.deps;
    const redisRetry = this.deps.redisOutage.retrying(this.deps.backoff, hard, "ack", () => this.deps.stats.errors++);
    let lettered = letters.length > 0;
    try {
      let added: boolean[] = [];
      try {
        added = await retry(() => this.deps.deadLetters.send(letters), redisRetry);
        if (letters.length > 0) this.#deadLetterFailure.ok();
      } catch (err) {
        if (err instanceof RetryAbortedError) throw err;
        stats.errors++;
        this.#deadLetterFailure.failed(err, { entries: letters.length });
        lettered = false;
        // Redelivered past MAX_DELIVERIES meanwhile, each still says why it was rejected.
        for (const l of letters) {
          if (l.class !== "max_deliveries") this.#lastError.remember(entryKey(l.entry), l.reason);
        }
      }
      await retry(() => this.deps.source.ack(stored), redisRetry);
      if (lettered) {
        stats.countDeadLetters(letters.map((l) => l.class), added);
        for (const l of letters) this.#lastError.delete(entryKey(l.entry));
      }
      return lettered;
    } catch (err) {
      throw new LeftPending(err, "dead-lettering or acknowledging failed");
    }
  }

  /** Counts a finished batch and logs what was dead-lettered. */
  #record(batch: readonly Delivery[], letters: DeadLetter[], outcome: WriteOutcome, started: number): void {
    const { stats, log } = this.deps;
    stats.rowsWritten += outcome.inserted;
    stats.duplicates += outcome.duplicates;
    stats.batches++;
    stats.batchSizes.observe(batch.length);
    stats.lastBatchMs = this.#now() - started;
    if (letters.length > 0) {
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
  }

  /**
   * A batch that cannot be finished now stays pending (redelivered later).
   * Returns the entries left because the shutdown deadline passed, or 0 for
   * any other failure (logged).
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

  #now(): number {
    return (this.deps.now ?? Date.now)();
  }
}
