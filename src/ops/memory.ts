/**
 * Whether the entries the service may hold at once fit in its heap. The
 * service holds at most WRITE_CONCURRENCY + 1 batches, each of at most
 * BATCH_SIZE entries and at most BATCH_MAX_BYTES (one entry at least); at
 * worst every entry is as large as MAX_MESSAGE_BYTES allows, and each is held
 * about twice (the decoded reply and the row text sent to PostgreSQL).
 */
import { getHeapStatistics } from "node:v8";

/** The settings that decide how much the service holds at once. */
export interface InFlightSettings {
  readonly batchSize: number;
  readonly writeConcurrency: number;
  readonly maxMessageBytes: number;
  /** BATCH_MAX_BYTES; 0 = derived from the heap ({@link batchByteBudget}). */
  readonly batchMaxBytes: number;
}

/** The most an automatic BATCH_MAX_BYTES grants one batch. */
export const AUTO_BATCH_BYTES_CAP = 32 * 1_048_576;

/** Copies of an entry held while it is written. */
const COPIES = 2;

/**
 * Most bytes of one batch: BATCH_MAX_BYTES when set, else an eighth of the
 * heap shared by the batches in hand (so that all of them, held twice, take
 * at most a quarter of it), at most {@link AUTO_BATCH_BYTES_CAP}.
 */
export function batchByteBudget(s: InFlightSettings, heapLimit: number): number {
  if (s.batchMaxBytes > 0) return s.batchMaxBytes;
  return Math.min(AUTO_BATCH_BYTES_CAP, Math.floor(heapLimit / (8 * (s.writeConcurrency + 1))));
}

/** Bytes the entries in hand may take at worst. */
export function worstCaseInFlightBytes(s: InFlightSettings, heapLimit: number): number {
  const perBatch = Math.min(
    s.batchSize * s.maxMessageBytes,
    Math.max(batchByteBudget(s, heapLimit), s.maxMessageBytes),
  );
  return (s.writeConcurrency + 1) * perBatch * COPIES;
}

/** This process's heap limit in bytes (set with `--v8-flags=--max-old-space-size=…`). */
export function heapLimitBytes(): number {
  return getHeapStatistics().heap_size_limit;
}

/** A warning when a backlog of the largest allowed messages could exhaust the heap, else undefined. */
export function heapWarning(s: InFlightSettings, limitBytes: number): string | undefined {
  const need = worstCaseInFlightBytes(s, limitBytes);
  if (need <= limitBytes) return undefined;
  const mb = (n: number) => Math.ceil(n / 1_048_576);
  return `(WRITE_CONCURRENCY + 1) batches of up to BATCH_MAX_BYTES (or BATCH_SIZE × MAX_MESSAGE_BYTES), held ` +
    `twice, is up to ${mb(need)} MB, more than the heap limit of ${mb(limitBytes)} MB: a backlog of messages that ` +
    `large would stop the process; lower BATCH_MAX_BYTES (0 derives it from the heap), or raise ` +
    `--max-old-space-size in --v8-flags`;
}
