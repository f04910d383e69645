/**
 * Deadlines as signals: a promise raced against `AbortSignal.timeout(ms)`
 * combined with the caller's signal, every listener removed when it settles.
 */

/** Thrown by {@link deadline} when the time is up. */
export class DeadlineError extends Error {
  override name = "TimeoutError";
  constructor(readonly ms: number, what = "the operation") {
    super(`${what} did not finish within ${ms} ms`);
  }
}

/**
 * Resolves or rejects as `promise` does, unless `ms` pass first (then it
 * rejects with a {@link DeadlineError}) or `signal` aborts (then with its reason).
 * `promise` itself is not cancelled; pass the same signal to it for that.
 */
export function deadline<T>(
  promise: Promise<T>,
  ms: number,
  opts: { signal?: AbortSignal; what?: string } = {},
): Promise<T> {
  const timeout = AbortSignal.timeout(ms);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(reasonOf(signal, timeout, ms, opts.what));
  }
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(reasonOf(signal, timeout, ms, opts.what));
    signal.addEventListener("abort", onAbort, { once: true });
  });
  return Promise.race([promise, aborted]).finally(() => {
    signal.removeEventListener("abort", onAbort);
    promise.catch(() => {});
  });
}

function reasonOf(signal: AbortSignal, timeout: AbortSignal, ms: number, what?: string): unknown {
  return timeout.aborted ? new DeadlineError(ms, what) : signal.reason;
}

/** True when `work` settles successfully within `ms`; false when it fails or takes longer. */
export function succeedsWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  return deadline(work, ms).then(() => true, () => false);
}
