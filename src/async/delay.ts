/** Abortable sleeps: every wait in the service goes through here so that shutdown can cut it short. */

/** Resolves after `ms`, or as soon as `signal` aborts (never rejects); the timer is always cleared. */
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
