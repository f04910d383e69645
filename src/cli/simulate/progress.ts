/**
 * A progress line on stderr: redrawn in place on a terminal, otherwise one
 * plain line every so often (so that a log file is not flooded).
 */

/** What the line shows. */
export interface ProgressCounts {
  readonly sent: number;
  readonly malformed: number;
}

/** Writes progress lines; `write` and `now` are passed in for tests. */
export class ProgressLine {
  #lastDraw = Number.NEGATIVE_INFINITY;
  #drawn = false;
  readonly #started: number;

  constructor(
    private readonly write: (text: string) => void,
    private readonly opts: { readonly terminal: boolean; readonly now?: () => number; readonly everyMs?: number },
  ) {
    this.#started = this.#now();
  }

  #now(): number {
    return (this.opts.now ?? performance.now.bind(performance))();
  }

  /** The text of the line (pure). */
  static format(c: ProgressCounts, elapsedMs: number): string {
    const seconds = elapsedMs / 1000;
    const rate = seconds > 0 ? Math.round(c.sent / seconds) : 0;
    return `simulate: sent ${c.sent} (${c.malformed} malformed), ${rate} msg/s, ${seconds.toFixed(1)} s elapsed`;
  }

  /** Shows the counts if the last line is old enough (250 ms on a terminal, 5 s otherwise). */
  update(c: ProgressCounts): void {
    const now = this.#now();
    const every = this.opts.everyMs ?? (this.opts.terminal ? 250 : 5000);
    if (now - this.#lastDraw < every) return;
    this.#lastDraw = now;
    const text = ProgressLine.format(c, now - this.#started);
    if (this.opts.terminal) {
      this.write(`\r\x1b[2K${text}`);
      this.#drawn = true;
    } else if (now - this.#started >= every) {
      // Not on a terminal: nothing for a short run; a line per interval for a long one.
      this.write(`${text}\n`);
    }
  }

  /** Clears a redrawn line, so that the summary starts on a clean line. */
  finish(): void {
    if (this.opts.terminal && this.#drawn) this.write("\r\x1b[2K");
  }
}
