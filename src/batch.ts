/**
 * One batch to the end, in named steps: sort (decode, past MAX_DELIVERIES),
 * settle what was delivered too often, write the readings, settle the write's
 * outcome, then dead-letter and acknowledge. Any step that cannot finish now
 * leaves the whole batch pending (redelivered later).
 */
import {
  type DeadLetter,
  type DeadLetterSink,
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
import { classify, describe } from "./errors.ts";
import { type BackoffOptions, retry, RetryAbortedError } from "./retry.ts";
import type { Logger } from "./log.ts";
import { deadline } from "./async/deadline.ts";
import type { Outage } from "./ops/outage.ts";
import type { Stats } from "./ops/stats.ts";

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

const MAX_REMEMBERED_ERRORS = 10_000;

/**
 * One attempt at a statement, for retry(): none starts once the shutdown
 * deadline (`hard`) has passed (retry() calls its function once before
 * looking at the signal), and one that runs longer than `timeoutMs` is
 * cancelled and fails with a transient DeadlineError, so that a stall
 * (a lock held, a frozen server) becomes an outage that is retried.
 */
function attempt<T>(
  hard: AbortSignal,
  timeoutMs: number,
  what: string,
  fn: (signal: AbortSignal) => Promise<T>,
): () => Promise<T> {
  return async () => {
    if (hard.aborted) throw new RetryAbortedError(undefined);
    const cancel = AbortSignal.any([hard, AbortSignal.timeout(timeoutMs)]);
    try {
      return await deadline(fn(cancel), timeoutMs, { signal: hard, what: `${what} (WRITE_TIMEOUT_SEC)` });
    } catch (err) {
      if (hard.aborted) throw new RetryAbortedError(undefined);
      throw err;
    }
  };
}

/** Processes batches; remembers the last failure of entries kept pending, for the poison reason. */
export class BatchProcessor {
  readonly #lastError = new Map<string, string>();

  constructor(private readonly deps: BatchDeps) {}

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
      await this.#deadLetterAndAck(sorted.letters, stored, hard);
      this.#record(batch, sorted.letters, outcome, started);
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
      const decoded = decode(d, this.deps.limits);
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
        this.#retryOptions(this.deps.dbOutage, hard),
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
        this.#retryOptions(this.deps.dbOutage, hard),
      );
      if (readings.length > 0) this.deps.stats.writeSeconds.observe((this.#now() - writeStarted) / 1000);
      return outcome;
    } catch (err) {
      // Not an outage, not a row's fault: keep everything pending; redelivery decides.
      for (const r of readings) this.#remember(entryKey({ stream: r.sourceStream, id: r.sourceId }), describe(err));
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
      this.#remember(k, error);
    }
    for (const { reading, reason } of outcome.rejected) {
      const k = entryKey({ stream: reading.sourceStream, id: reading.sourceId });
      unsettled.add(k);
      letters.push({ entry: entries.get(k)!, reason, class: "rejected_by_database" });
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

  /** Dead-letters the rejects, then acknowledges the stored entries. */
  async #deadLetterAndAck(letters: DeadLetter[], stored: StreamEntry[], hard: AbortSignal): Promise<void> {
    const redisRetry = this.#retryOptions(this.deps.redisOutage, hard);
    try {
      const added = await retry(() => this.deps.deadLetters.send(letters), redisRetry);
      await retry(() => this.deps.source.ack(stored), redisRetry);
      this.deps.stats.countDeadLetters(letters.map((l) => l.class), added);
      for (const l of letters) this.#lastError.delete(entryKey(l.entry));
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

  #now(): number {
    return (this.deps.now ?? Date.now)();
  }
}
