/**
 * The interfaces between the stages: what the source hands the decoder, what
 * the decoder hands the sink, and what goes to the dead letters. Types only,
 * plus the one key function every stage uses; no I/O.
 */

/** One entry of a Redis stream, fields already decoded to strings. */
export interface StreamEntry {
  readonly stream: string;
  readonly id: string;
  readonly fields: Readonly<Record<string, string>>;
}

/** A stream entry and how many times the group has delivered it (1 = first time). */
export interface Delivery extends StreamEntry {
  readonly deliveries: number;
}

/** One string naming a stream entry (`stream` and `id` joined by NUL, which neither contains). */
export function entryKey(entry: { readonly stream: string; readonly id: string }): string {
  return `${entry.stream}\u0000${entry.id}`;
}

/** A validated sensor reading, ready for the table. */
export interface Reading {
  /** The instant as an ISO 8601 string with an explicit offset, microseconds kept. */
  readonly time: string;
  readonly deviceId: string;
  readonly sensorType: string;
  readonly value: number;
  readonly metadata: Readonly<Record<string, unknown>> | null;
  /**
   * The metadata as the message wrote it (a validated JSON object), stored as
   * is; absent when there is none or it was changed (a `unit` merged in): then
   * `metadata` is serialized.
   */
  readonly metadataText?: string;
  /** The unit, for the `telemetry` layout: from the message, else from the metric's rule; null when unknown. */
  readonly unit?: string | null;
  readonly sourceStream: string;
  readonly sourceId: string;
  /**
   * The message's time had no UTC offset (so `time` reads it as UTC): the
   * previous service stored such a time as read in the database's time zone.
   */
  readonly naiveTime?: true;
}

/** Every class a dead-letter reason can have: a small fixed set, so metrics can count by kind. */
export const REASON_CLASSES = [
  "missing_field",
  "bad_identifier",
  "bad_value",
  "bad_timestamp",
  "invalid_json",
  "bad_metadata",
  "too_large",
  "bad_encoding",
  "rejected_by_database",
  "unknown_device",
  "out_of_range",
  "max_deliveries",
  "other",
] as const;

/** One dead-letter reason class. */
export type ReasonClass = typeof REASON_CLASSES[number];

/** Why an entry cannot be stored: a reason a person can act on, and its class. */
export interface Rejection {
  readonly reason: string;
  readonly class: ReasonClass;
}

/** The outcome of decoding one entry. */
export type Decoded =
  | { readonly ok: true; readonly reading: Reading }
  | ({ readonly ok: false } & Rejection);

/** What the pipeline needs from its input. */
export interface Source {
  /** Up to one batch of entries; waits at most the block time when idle. */
  read(signal: AbortSignal): Promise<Delivery[]>;
  /** Acknowledges entries that are now rows. */
  ack(entries: readonly StreamEntry[]): Promise<void>;
  /** Re-reads this consumer's own pending entries before new ones (after a Redis error, say). */
  rescanOwnPending?(): void;
  /**
   * Keeps `entries` this consumer's while their batch is processed (their
   * idle time reset well before another consumer may claim them), until disposed.
   */
  hold?(entries: readonly StreamEntry[]): Disposable;
}

/** What became of a batch handed to {@link Sink.write}. */
export interface WriteOutcome {
  /** Rows inserted now (duplicates of earlier deliveries are not counted). */
  readonly inserted: number;
  /** Readings already in the table (a redelivery). */
  readonly duplicates: number;
  /** Readings the database refused for their data, with its message. */
  readonly rejected: ReadonlyArray<
    { readonly reading: Reading; readonly reason: string; readonly class?: ReasonClass }
  >;
  /** Readings that failed alone for a reason that is neither data nor outage: keep pending. */
  readonly deferred: ReadonlyArray<{ readonly reading: Reading; readonly error: string }>;
}

/** How to write one batch. */
export interface WriteOptions {
  /**
   * Some entries were delivered before: also skip readings that the previous
   * service already stored (rows without a source id, same device, sensor,
   * instant and value; a naive time matched as UTC and as the database's
   * local time), since it never acknowledged what it stored.
   */
  readonly redelivered?: boolean;
}

/** Where readings go. */
export interface Sink {
  /**
   * Stores `readings`; resolves once they are committed. An abort of `signal`
   * cancels the statement in flight (it then fails as a transient error).
   * @throws the driver's error when the failure is transient (retry the batch).
   */
  write(readings: readonly Reading[], signal?: AbortSignal, opts?: WriteOptions): Promise<WriteOutcome>;
  /**
   * Which of these entries already have their row ({@link entryKey} keys), so
   * that an entry stored just before a crash is acked, never dead-lettered.
   * (A layout without source columns reads the entries' fields.)
   */
  stored(entries: readonly StreamEntry[]): Promise<Set<string>>;
}

/** An entry to dead-letter, why, and the class of that reason. */
export interface DeadLetter extends Rejection {
  readonly entry: StreamEntry;
}

/** Where dead letters go. */
export interface DeadLetterSink {
  /**
   * Dead-letters and acks each entry atomically, the ack only once its dead
   * letter is written; returns, per letter, whether it was new (false: no
   * longer pending, or dead-lettered before). Throws when a dead letter cannot
   * be written: its entry is then left pending.
   */
  send(letters: readonly DeadLetter[]): Promise<boolean[]>;
}
