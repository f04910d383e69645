/**
 * Writing a batch so that one bad row never fails its neighbours: an
 * idempotent INSERT of the whole batch, split in halves on a data error until
 * each offending row is alone.
 */
import type { Reading, ReasonClass } from "../ports.ts";
import { classify, describe, SchemaError, sqlState } from "../errors.ts";

/** What became of a batch, filled in as it is written. */
export interface Tally {
  inserted: number;
  duplicates: number;
  rejected: { reading: Reading; reason: string; class?: ReasonClass }[];
  deferred: { reading: Reading; error: string }[];
}

/** An empty {@link Tally}. */
export function tally(): Tally {
  return { inserted: 0, duplicates: 0, rejected: [], deferred: [] };
}

/** Why the database refused one row, for its dead letter (a layout may say it better). */
export type Explain = (reading: Reading, err: unknown) => { reason: string; class?: ReasonClass };

const refused: Explain = (_r, err) => ({ reason: `database refused the row: ${describe(err)}` });

/**
 * Inserts `readings` with `insert` (which returns the rows inserted, skipping
 * those already stored); on a data error splits the batch until the
 * offending row is alone, which is then rejected (data) or deferred (neither
 * data nor outage).
 * @throws the driver's error when the failure is transient (retry the batch)
 *   or the table has no unique index for ON CONFLICT (42P10).
 */
export async function writeOrSplit(
  insert: (readings: readonly Reading[]) => Promise<number>,
  readings: readonly Reading[],
  out: Tally,
  explain: Explain = refused,
): Promise<void> {
  try {
    const inserted = await insert(readings);
    out.inserted += inserted;
    out.duplicates += readings.length - inserted;
  } catch (err) {
    const kind = classify(err);
    // No unique index for ON CONFLICT (42P10) is the table's fault, not a row's.
    if (kind === "transient" || sqlState(err) === "42P10") throw err;
    if (readings.length === 1) {
      const reading = readings[0]!;
      if (kind === "data") out.rejected.push({ reading, ...explain(reading, err) });
      else out.deferred.push({ reading, error: describe(err) });
      return;
    }
    const mid = Math.ceil(readings.length / 2);
    await writeOrSplit(insert, readings.slice(0, mid), out, explain);
    await writeOrSplit(insert, readings.slice(mid), out, explain);
  }
}

/**
 * A catch handler for {@link writeOrSplit}: a missing unique index (42P10)
 * becomes a {@link SchemaError} naming the table and the key it needs (the
 * service stops instead of retrying forever); anything else is rethrown.
 */
export function lostUniqueIndex(table: string, key: string): (err: unknown) => never {
  return (err) => {
    if (sqlState(err) !== "42P10") throw err;
    throw new SchemaError(`table ${table} lost its unique index on (${key}): ${describe(err)}`, { cause: err });
  };
}

/** How one layout writes: its COPY of a whole batch, its idempotent INSERT, its unique key. */
export interface LayoutWrite {
  /** One COPY of every reading; throws the database's error if any row fails. */
  readonly copy: (readings: readonly Reading[]) => Promise<void>;
  /** An INSERT … ON CONFLICT DO NOTHING; resolves with the rows inserted. */
  readonly insert: (readings: readonly Reading[]) => Promise<number>;
  /** The table, for messages, and the unique key its ON CONFLICT names. */
  readonly table: string;
  readonly key: string;
  readonly explain?: Explain;
}

/**
 * The write both layouts share: a first delivery goes by one COPY (the fast
 * path); a redelivered batch, or one whose COPY failed for its data (a row
 * already stored, a value or device the table refuses), by the idempotent
 * INSERT, split until each refused row is alone.
 * @throws the driver's error on an outage; a SchemaError when the unique key is gone.
 */
export async function copyOrInsert(w: LayoutWrite, readings: readonly Reading[], redelivered: boolean): Promise<Tally> {
  const outcome = tally();
  if (readings.length === 0) return outcome;
  if (!redelivered) {
    try {
      await w.copy(readings);
      outcome.inserted = readings.length;
      return outcome;
    } catch (err) {
      if (classify(err) === "transient") throw err;
    }
  }
  await writeOrSplit(w.insert, readings, outcome, w.explain).catch(lostUniqueIndex(w.table, w.key));
  return outcome;
}
