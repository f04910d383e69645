/**
 * Writing a batch so that one bad row never fails its neighbours: an
 * idempotent INSERT of the whole batch, split in halves on a data error until
 * each offending row is alone.
 */
import type { Reading, ReasonClass } from "../ports.ts";
import { classify, describe } from "../errors.ts";

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
 * @throws the driver's error when the failure is transient (retry the batch).
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
    if (kind === "transient") throw err;
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
