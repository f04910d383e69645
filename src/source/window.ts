/**
 * The backlog window: which streams the next non-blocking read takes, and how
 * many entries from each. Pure. A few streams, many entries each, never more
 * than one batch: Redis visits a handful of streams per batch instead of
 * hundreds, and the rows of one stream reach PostgreSQL together.
 */

/** Streams of one backlog window, at most. */
export const WINDOW_STREAMS = 40;
/** Entries per stream of a backlog window, at least (when BATCH_SIZE allows). */
export const WINDOW_COUNT = 50;

/** One window: its streams, `COUNT` for each, and where the next window starts. */
export interface Window {
  readonly streams: readonly string[];
  readonly count: number;
  readonly next: number;
}

/**
 * The window starting at `from` (taken modulo the number of streams, wrapping
 * round): `BATCH_SIZE` / 50 streams (at most 40, at least 1, at most all),
 * `COUNT` = `BATCH_SIZE` / streams.
 */
export function backlogWindow(all: readonly string[], from: number, batchSize: number): Window {
  const size = Math.min(all.length, WINDOW_STREAMS, Math.max(1, Math.floor(batchSize / WINDOW_COUNT)));
  const start = from % all.length;
  const streams = start + size <= all.length
    ? all.slice(start, start + size)
    : [...all.slice(start), ...all.slice(0, start + size - all.length)];
  return { streams, count: Math.floor(batchSize / size), next: start + size };
}
