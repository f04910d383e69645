/**
 * Tracks whether a dependency (Redis, PostgreSQL) is reachable, and logs an
 * outage once when it starts and once when it ends, never once per retry.
 *
 * A connection that merely dropped (a command failed because its socket
 * closed) says nothing of why: its outage line waits a moment for the
 * reconnect's own error (a refused password, a refused connection), and
 * names that instead.
 */
import type { Logger } from "../log.ts";
import { classify, describe, isBareConnectionLoss } from "../errors.ts";
import type { BackoffOptions } from "../retry.ts";

/** Runs `fn` after `ms` unless the returned function is called first; never keeps the process alive. */
export type Later = (fn: () => void, ms: number) => () => void;

const unrefLater: Later = (fn, ms) => {
  const id = setTimeout(fn, ms);
  Deno.unrefTimer(id);
  return () => clearTimeout(id);
};

/** The operation a failure or success is of when none is named: the connection itself. */
const CONNECTION = "connection";

/** How long an outage line waits for a cause after a bare loss of connection. */
export const CAUSE_WAIT_MS = 1_000;

/** Up/down state of one dependency, with outage logging. */
export class Outage {
  #since: number | undefined;
  #failures = 0;
  #outages = 0;
  /** What is failing (an operation: "read", "ack", …, or the connection itself), with its last failure's time. */
  readonly #failing = new Map<string, number>();
  /** The outage line not yet written, while it waits for a cause. */
  #pending: { err: unknown; cancel: () => void } | undefined;

  constructor(
    readonly dependency: string,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    private readonly later: Later = unrefLater,
  ) {}

  /** True while the dependency is considered down. */
  get down(): boolean {
    return this.#since !== undefined;
  }

  /** Outages started since creation. */
  get count(): number {
    return this.#outages;
  }

  /**
   * Records a failed attempt of `op` (the connection itself unless named);
   * logs only the first of an outage.
   */
  failed(err: unknown, op: string = CONNECTION): void {
    const at = this.now();
    this.#failures++;
    this.#failing.set(op, at);
    if (this.#since !== undefined) {
      if (this.#pending && !isBareConnectionLoss(err)) this.#report(err);
      return;
    }
    this.#since = at;
    this.#outages++;
    if (!isBareConnectionLoss(err)) return this.#report(err);
    const cancel = this.later(() => this.flush(), CAUSE_WAIT_MS);
    this.#pending = { err, cancel };
  }

  /** Writes an outage line still waiting for its cause (at shutdown, say). */
  flush(): void {
    if (this.#pending) this.#report(this.#pending.err);
  }

  #report(err: unknown): void {
    this.#pending?.cancel();
    this.#pending = undefined;
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
   * Records a success of `op` (the connection itself unless named). It proves
   * `op` and the connection work again: the outage ends once nothing else is
   * failing (a read refused by an ACL is not cured by an ack that passes).
   * With `since` (a {@link mark} taken when the attempt began), a failure
   * recorded meanwhile (a connection of the same dependency failing) wins:
   * an attempt that overlapped a failure proves nothing.
   */
  ok(since?: number, op: string = CONNECTION): void {
    if (this.#since === undefined) return;
    for (const proven of new Set([op, CONNECTION])) {
      const last = this.#failing.get(proven);
      if (last !== undefined && (since === undefined || last < since)) this.#failing.delete(proven);
    }
    if (this.#failing.size > 0) return;
    this.flush();
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
   * retried until `signal` aborts, each one tracked here as a failure of
   * `op` and counted with `counted`; a success is one of `op` (see {@link ok}).
   */
  retrying(backoff: BackoffOptions, signal: AbortSignal, op: string, counted: () => void = () => {}) {
    return {
      ...backoff,
      signal,
      shouldRetry: (err: unknown) => classify(err) === "transient",
      onFailure: (err: unknown) => {
        counted();
        this.failed(err, op);
      },
      onSuccess: () => this.ok(undefined, op),
    };
  }
}
