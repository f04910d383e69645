/**
 * Counters of the running service, read by the summary log line, the
 * `/metrics` endpoint and the health report.
 */
import { Histogram } from "./histogram.ts";
import type { ReasonClass } from "../ports.ts";

/** Upper bounds of the batch-size histogram (entries). */
export const BATCH_SIZE_BUCKETS = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];
/** Upper bounds of the write-latency histogram (seconds). */
export const WRITE_SECONDS_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Consumer lag and pending entries, as last refreshed (see `ops/lag.ts`). */
export interface LagTotals {
  /** Entries not yet delivered to the group, summed over streams; null when Redis could not say. */
  readonly lag: number | null;
  /** Entries delivered but not yet acknowledged, summed over streams. */
  readonly pending: number;
}

/** Monotonic counters since start. */
export class Stats {
  readonly startedAt: number;
  messagesRead = 0;
  rowsWritten = 0;
  duplicates = 0;
  deadLettered = 0;
  batches = 0;
  errors = 0;
  lastBatchMs = 0;
  /** Dead letters by reason class (bounded label set). */
  readonly deadLetteredByClass = new Map<ReasonClass, number>();
  /** Entries per processed batch. */
  readonly batchSizes = new Histogram(BATCH_SIZE_BUCKETS);
  /** Seconds to commit a batch's rows, retries included. */
  readonly writeSeconds = new Histogram(WRITE_SECONDS_BUCKETS);
  /** Times a Redis connection started reconnecting. */
  redisReconnects = 0;

  constructor(now: () => number = Date.now) {
    this.startedAt = now();
  }

  /**
   * Counts the dead letters that were `added` (another consumer may have got
   * to some first), by the class of their reasons.
   */
  countDeadLetters(classes: readonly ReasonClass[], added: readonly boolean[]): void {
    for (const [i, cls] of classes.entries()) {
      if (!added[i]) continue;
      this.deadLettered++;
      this.deadLetteredByClass.set(cls, (this.deadLetteredByClass.get(cls) ?? 0) + 1);
    }
  }

  /** A plain snapshot for JSON output. */
  snapshot(): Record<string, number> {
    return {
      messages_read: this.messagesRead,
      messages_written: this.rowsWritten,
      duplicates_skipped: this.duplicates,
      messages_failed: this.deadLettered,
      batches_processed: this.batches,
      errors: this.errors,
      last_batch_ms: this.lastBatchMs,
      uptime_seconds: Math.round((Date.now() - this.startedAt) / 1000),
    };
  }
}

/** While nothing moves (a backlog that does not drain, retries during an outage), one line per this many ms. */
export const IDLE_LINE_MS = 60_000;

/**
 * A rate for people: whole numbers from 10 up, two significant digits below,
 * so that anything written never shows as 0 (one row in a minute is 0.017).
 */
export function shownRate(count: number, seconds: number): number {
  const rate = count / seconds;
  return rate >= 10 ? Math.round(rate) : Number(rate.toPrecision(2));
}

/**
 * Logs one summary line per interval when something moved; while nothing
 * moves but a backlog waits or writes are retried, one line a minute; a
 * service with nothing to do stays quiet.
 */
export class StatsReporter {
  #last = { read: 0, written: 0, dead: 0, errors: 0, at: 0 };
  #lastLine = -Infinity;

  constructor(
    private readonly stats: Stats,
    private readonly log: { info(m: string, p?: Record<string, unknown>): void },
    private readonly now: () => number = Date.now,
    private readonly lag: () => LagTotals | undefined = () => undefined,
  ) {
    this.#last.at = now();
  }

  /** Emits a summary when something happened since the previous one. */
  report(): void {
    const t = this.now();
    const s = this.stats;
    const read = s.messagesRead - this.#last.read;
    const written = s.rowsWritten - this.#last.written;
    const dead = s.deadLettered - this.#last.dead;
    const retries = s.errors - this.#last.errors;
    const seconds = Math.max((t - this.#last.at) / 1000, 0.001);
    const lag = this.lag();
    const moved = read > 0 || written > 0 || dead > 0;
    if (!moved) {
      const backlog = lag !== undefined && ((lag.lag ?? 0) > 0 || lag.pending > 0);
      if (retries === 0 && !backlog) {
        this.#last.at = t;
        return;
      }
      // Stuck: the figures add up until the minute's line.
      if (t - this.#lastLine < IDLE_LINE_MS) return;
    }
    this.#last = { read: s.messagesRead, written: s.rowsWritten, dead: s.deadLettered, errors: s.errors, at: t };
    this.#lastLine = t;
    this.log.info("throughput", {
      rows_per_sec: shownRate(written, seconds),
      read,
      written,
      dead_lettered: dead,
      retries,
      lag: lag?.lag ?? null,
      pending: lag?.pending ?? null,
      interval_sec: Math.round(seconds * 10) / 10,
      total_written: s.rowsWritten,
      total_dead_lettered: s.deadLettered,
    });
  }

  /** The final line on exit. */
  final(): void {
    this.log.info("final stats", this.stats.snapshot());
  }
}
