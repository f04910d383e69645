/**
 * Tracks whether a dependency (Redis, PostgreSQL) is reachable, and logs an
 * outage once when it starts and once when it ends, never once per retry.
 */
import type { Logger } from "../log.ts";
import { classify, describe } from "../errors.ts";
import type { BackoffOptions } from "../retry.ts";

/** Up/down state of one dependency, with outage logging. */
export class Outage {
  #since: number | undefined;
  #failures = 0;
  #outages = 0;
  #lastFailure: number | undefined;

  constructor(
    readonly dependency: string,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** True while the dependency is considered down. */
  get down(): boolean {
    return this.#since !== undefined;
  }

  /** Outages started since creation. */
  get count(): number {
    return this.#outages;
  }

  /** Records a failed attempt; logs only the first of an outage. */
  failed(err: unknown): void {
    this.#failures++;
    this.#lastFailure = this.now();
    if (this.#since !== undefined) return;
    this.#since = this.now();
    this.#outages++;
    this.log.error(`${this.dependency} unavailable; retrying until it is back`, {
      dependency: this.dependency,
      error: describe(err),
    });
  }

  /** Now, on this tracker's clock: the `since` of a later {@link ok}. */
  mark(): number {
    return this.now();
  }

  /**
   * Records a success; logs the end of an outage with its duration. With
   * `since` (a {@link mark} taken when the attempt began), a failure recorded
   * meanwhile (a connection of the same dependency failing) wins: an attempt
   * that overlapped a failure proves nothing.
   */
  ok(since?: number): void {
    if (this.#since === undefined) return;
    if (since !== undefined && this.#lastFailure !== undefined && this.#lastFailure >= since) return;
    const seconds = (this.now() - this.#since) / 1000;
    this.log.info(`${this.dependency} available again`, {
      dependency: this.dependency,
      outage_seconds: Math.round(seconds * 10) / 10,
      failed_attempts: this.#failures,
    });
    this.#since = undefined;
    this.#failures = 0;
  }

  /**
   * Options for retry() against this dependency: transient failures are
   * retried until `signal` aborts, each one tracked here and counted with
   * `counted`; a success ends the outage.
   */
  retrying(backoff: BackoffOptions, signal: AbortSignal, counted: () => void = () => {}) {
    return {
      ...backoff,
      signal,
      shouldRetry: (err: unknown) => classify(err) === "transient",
      onFailure: (err: unknown) => {
        counted();
        this.failed(err);
      },
      onSuccess: () => this.ok(),
    };
  }
}
