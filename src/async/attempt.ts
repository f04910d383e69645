/**
 * One attempt at a statement for retry(), bounded in time and never started
 * after the shutdown deadline.
 */
import { RetryAbortedError } from "../retry.ts";
import { deadline } from "./deadline.ts";

/**
 * One attempt at a statement, for retry(): none starts once the shutdown
 * deadline (`hard`) has passed (retry() calls its function once before
 * looking at the signal), and one that runs longer than `timeoutMs` is
 * cancelled and fails with a transient DeadlineError, so that a stall
 * (a lock held, a frozen server) becomes an outage that is retried.
 */
export function attempt<T>(
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
