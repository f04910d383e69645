/**
 * How many entries the next read may ask for: BATCH_SIZE, or fewer when the
 * entries are large, so that one batch stays within BATCH_MAX_BYTES. The size
 * of an entry is guessed from recent reads: it starts at MAX_MESSAGE_BYTES
 * (the largest entry stored), follows the largest entry of each read up at
 * once, and comes down by half per read.
 */

/** Bytes of one entry as read (id, field names and values; UTF-16 units, equal to bytes for ASCII). */
export function entryBytes(e: { readonly id: string; readonly fields: Readonly<Record<string, string>> }): number {
  let n = e.id.length;
  for (const k in e.fields) n += k.length + e.fields[k]!.length;
  return n;
}

/** The count of the next read, from the sizes seen so far. */
export class BatchSizer {
  #entryBytes: number;

  constructor(private readonly opts: { batchSize: number; maxBytes: number; maxMessageBytes: number }) {
    this.#entryBytes = opts.maxMessageBytes;
  }

  /** Entries the next read may return. */
  get count(): number {
    return Math.max(1, Math.min(this.opts.batchSize, Math.floor(this.opts.maxBytes / this.#entryBytes)));
  }

  /** Learns from the entries one read returned. */
  observe(entries: readonly { readonly id: string; readonly fields: Readonly<Record<string, string>> }[]): void {
    if (entries.length === 0) return;
    let largest = 0;
    for (const e of entries) largest = Math.max(largest, entryBytes(e));
    this.#entryBytes = Math.max(largest, Math.floor(this.#entryBytes / 2), 64);
  }
}
