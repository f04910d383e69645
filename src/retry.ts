/**
 * Backoff with jitter and abortable sleeps: every wait in the service goes
 * through here so that shutdown can cut it short.
 */

/** Backoff bounds in milliseconds. */
export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
}

/**
 * The delay before retry number `attempt` (0-based): exponential, capped,
 * with "equal jitter" so that many instances do not retry in lockstep.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(opts.maxMs, opts.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** Resolves after `ms`, or as soon as `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted || ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Thrown by {@link retry} when its signal aborts before the work succeeded. */
export class RetryAbortedError extends Error {
  override name = "RetryAbortedError";
  constructor(readonly lastError: unknown) {
    super("gave up retrying: shutting down", { cause: lastError });
  }
}

/**
 * Runs `fn` until it succeeds, retrying failures for which `shouldRetry` is
 * true with backoff; other failures are thrown at once.
 * @throws {RetryAbortedError} when `signal` aborts while retrying.
 */
export async function retry<T>(
  fn: () => Promise<T>,
  opts: BackoffOptions & {
    signal?: AbortSignal;
    shouldRetry: (err: unknown) => boolean;
    onFailure?: (err: unknown, attempt: number, delayMs: number) => void;
    onSuccess?: (attempts: number) => void;
  },
): Promise<T> {
  for (let attempt = 0;; attempt++) {
    try {
      const result = await fn();
      opts.onSuccess?.(attempt);
      return result;
    } catch (err) {
      if (!opts.shouldRetry(err)) throw err;
      if (opts.signal?.aborted) throw new RetryAbortedError(err);
      const delay = backoffDelay(attempt, opts);
      opts.onFailure?.(err, attempt, delay);
      await sleep(delay, opts.signal);
      if (opts.signal?.aborted) throw new RetryAbortedError(err);
    }
  }
}

/** True when `work` settles successfully within `ms`; false when it fails or takes longer. */
export async function succeedsWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([work.then(() => true, () => false), late]);
  } finally {
    clearTimeout(timer);
  }
}
