/**
 * A Prometheus-style histogram: cumulative bucket counts, sum and count.
 * Pure and allocation-free per observation.
 */

/** Counts observations into fixed upper bounds (`le`), plus `+Inf`. */
export class Histogram {
  readonly bounds: readonly number[];
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  /** @throws {RangeError} when `bounds` is empty or not strictly increasing. */
  constructor(bounds: readonly number[]) {
    if (bounds.length === 0 || bounds.some((b, i) => i > 0 && b <= bounds[i - 1]!)) {
      throw new RangeError(`histogram bounds must be a non-empty increasing list, got [${bounds.join(", ")}]`);
    }
    this.bounds = [...bounds];
    this.#counts = new Array(bounds.length).fill(0);
  }

  /** Records one value. */
  observe(value: number): void {
    this.#sum += value;
    this.#count++;
    const i = this.bounds.findIndex((b) => value <= b);
    if (i >= 0) this.#counts[i]!++;
  }

  /** Cumulative counts per bound (`le`), then the total for `+Inf`. */
  cumulative(): { le: string; count: number }[] {
    let running = 0;
    const out = this.bounds.map((b, i) => {
      running += this.#counts[i]!;
      return { le: String(b), count: running };
    });
    out.push({ le: "+Inf", count: this.#count });
    return out;
  }

  get sum(): number {
    return this.#sum;
  }

  get count(): number {
    return this.#count;
  }
}
