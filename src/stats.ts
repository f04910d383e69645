/**
 * Counters of the running service, read by the summary log line, the
 * `/metrics` endpoint and the health report.
 */

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

  constructor(now: () => number = Date.now) {
    this.startedAt = now();
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

/** Logs one summary line per interval while there is activity. */
export class StatsReporter {
  #last = { read: 0, written: 0, dead: 0, at: 0 };

  constructor(
    private readonly stats: Stats,
    private readonly log: { info(m: string, p?: Record<string, unknown>): void },
    private readonly now: () => number = Date.now,
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
    const seconds = Math.max((t - this.#last.at) / 1000, 0.001);
    this.#last = { read: s.messagesRead, written: s.rowsWritten, dead: s.deadLettered, at: t };
    if (read === 0 && written === 0 && dead === 0) return;
    this.log.info("throughput", {
      rows_per_sec: Math.round(written / seconds),
      read,
      written,
      dead_lettered: dead,
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
