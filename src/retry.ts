/**
 * Retries with capped exponential backoff and jitter; every wait is an
 * abortable sleep, so shutdown can cut it short.
 */
import { sleep } from "./async/delay.ts";

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
