/** Awaiting a state instead of sleeping a fixed time. */

/** Options of {@link waitFor}. */
export interface WaitOptions {
  /** Give up after this long (default 20 s). */
  timeoutMs?: number;
  /** What is awaited, for the error message. */
  what?: string;
  /** Poll interval (default 50 ms). */
  everyMs?: number;
}

/** Polls `predicate` until it returns a truthy value, which it returns; throws after `timeoutMs`. */
export async function waitFor<T>(predicate: () => Promise<T> | T, opts: WaitOptions = {}): Promise<T> {
  const { timeoutMs = 20_000, what = "condition", everyMs = 50 } = opts;
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await predicate();
    if (last) return last;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last value: ${JSON.stringify(last)})`);
}
