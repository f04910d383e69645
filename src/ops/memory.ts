/**
 * Whether the entries the service may hold at once fit in its heap. The
 * service holds at most WRITE_CONCURRENCY + 1 batches; at worst every entry is
 * as large as MAX_MESSAGE_BYTES allows, and each is held about twice (the
 * decoded reply and the row text sent to PostgreSQL).
 */
import { getHeapStatistics } from "node:v8";

/** The settings that decide how much the service holds at once. */
export interface InFlightSettings {
  readonly batchSize: number;
  readonly writeConcurrency: number;
  readonly maxMessageBytes: number;
}

/** Copies of an entry held while it is written. */
const COPIES = 2;

/** Bytes the entries in hand may take at worst. */
export function worstCaseInFlightBytes(s: InFlightSettings): number {
  return (s.writeConcurrency + 1) * s.batchSize * s.maxMessageBytes * COPIES;
}

/** This process's heap limit in bytes (set with `--v8-flags=--max-old-space-size=…`). */
export function heapLimitBytes(): number {
  return getHeapStatistics().heap_size_limit;
}

/** A warning when a backlog of the largest allowed messages could exhaust the heap, else undefined. */
export function heapWarning(s: InFlightSettings, limitBytes: number): string | undefined {
  const need = worstCaseInFlightBytes(s);
  if (need <= limitBytes) return undefined;
  const mb = (n: number) => Math.ceil(n / 1_048_576);
  return `(WRITE_CONCURRENCY + 1) × BATCH_SIZE × MAX_MESSAGE_BYTES, held twice, is up to ${mb(need)} MB, ` +
    `more than the heap limit of ${mb(limitBytes)} MB: a backlog of messages that large would stop the process; ` +
    `lower BATCH_SIZE or MAX_MESSAGE_BYTES, or raise --max-old-space-size in --v8-flags`;
}
