/**
 * Batch writer for the `telemetry` layout: rows (time, device_id, metric,
 * value, unit), idempotent on the table's natural primary key (time,
 * device_id, metric). A batch of first deliveries goes in with one COPY;
 * when that fails for its data (a reading already stored, a device not
 * registered) the batch is written again with one multi-row `unnest` INSERT
 * … ON CONFLICT (time, device_id, metric) DO NOTHING, split until each
 * offending row is alone: a reading already there is a duplicate skipped, a
 * reading of an unregistered device is dead-lettered alone. Batches holding
 * redeliveries skip COPY.
 */
import { entryKey, type Reading, type Sink, type StreamEntry, type WriteOptions, type WriteOutcome } from "../ports.ts";
import { describe, sqlState } from "../errors.ts";
import type { Sql } from "./client.ts";
import { cancellable, copyEscape, copyIn, notAborted } from "./copy.ts";
import { copyOrInsert, type Explain } from "./split.ts";
import { quoteTable, tableLabel, type TableName } from "./table.ts";

/** SQLSTATE of a foreign key violation: here, a device missing from `devices`. */
const FOREIGN_KEY_VIOLATION = "23503";

/** Writes readings into a `telemetry`-shaped table. */
export class TelemetrySink implements Sink {
  readonly #copy: string;
  readonly #insert: string;
  readonly #lookup: string;
  readonly #label: string;

  /**
   * @param read turns a stream entry into its reading (decode and metric
   *   rules, as the pipeline does), or undefined; used by {@link stored}.
   */
  constructor(
    private readonly sql: Sql,
    table: TableName,
    private readonly read: (entry: StreamEntry) => Reading | undefined,
  ) {
    const t = quoteTable(table);
    this.#label = tableLabel(table);
    this.#copy = `COPY ${t} ("time", device_id, metric, value, unit) FROM STDIN`;
    this.#insert = `INSERT INTO ${t} ("time", device_id, metric, value, unit) ` +
      `SELECT * FROM unnest($1::text[]::timestamptz[], $2::text[], $3::text[], $4::float8[], $5::text[]) ` +
      `ON CONFLICT ("time", device_id, metric) DO NOTHING`;
    this.#lookup = `SELECT u.i FROM unnest($1::text[]::timestamptz[], $2::text[], $3::text[]) ` +
      `WITH ORDINALITY AS u(ts, d, m, i) WHERE EXISTS (SELECT 1 FROM ${t} x ` +
      `WHERE x."time" = u.ts AND x.device_id = u.d AND x.metric = u.m)`;
  }

  write(readings: readonly Reading[], signal?: AbortSignal, opts: WriteOptions = {}): Promise<WriteOutcome> {
    return copyOrInsert(
      {
        copy: (rs) => copyIn(this.sql, this.#copy, copyText(rs), signal),
        insert: (rs) => this.#insertRows(rs, signal),
        table: this.#label,
        key: '"time", device_id, metric',
        explain: unknownDevice,
      },
      readings,
      opts.redelivered ?? false,
    );
  }

  async stored(entries: readonly StreamEntry[]): Promise<Set<string>> {
    const found = new Set<string>();
    const keyed: { key: string; reading: Reading }[] = [];
    for (const e of entries) {
      const reading = this.read(e);
      if (reading) keyed.push({ key: entryKey(e), reading });
    }
    if (keyed.length === 0) return found;
    const rows = await this.sql.unsafe(this.#lookup, [
      keyed.map((k) => k.reading.time),
      keyed.map((k) => k.reading.deviceId),
      keyed.map((k) => k.reading.sensorType),
    ], { prepare: true });
    for (const r of rows) found.add(keyed[Number(r.i) - 1]!.key);
    return found;
  }

  async #insertRows(readings: readonly Reading[], signal: AbortSignal | undefined): Promise<number> {
    notAborted(signal);
    const n = readings.length;
    const time = new Array<string>(n), device = new Array<string>(n), metric = new Array<string>(n);
    const value = new Array<number>(n), unit = new Array<string | null>(n);
    for (let i = 0; i < n; i++) {
      const r = readings[i]!;
      time[i] = r.time;
      device[i] = r.deviceId;
      metric[i] = r.sensorType;
      value[i] = r.value;
      unit[i] = r.unit ?? null;
    }
    const query = this.sql.unsafe(this.#insert, [time, device, metric, value, unit], { prepare: true });
    return await cancellable(query, signal);
  }
}

/** A foreign key violation names the device; any other refusal is the database's own words. */
const unknownDevice: Explain = (reading, err) =>
  sqlState(err) === FOREIGN_KEY_VIOLATION
    ? {
      reason: `device ${JSON.stringify(reading.deviceId)} is not registered (no row with that id in the devices ` +
        `table the telemetry table references); register it, then run dlq replay`,
      class: "unknown_device",
    }
    : { reason: `database refused the row: ${describe(err)}` };

/** The readings as COPY text: time, device_id, metric, value, unit. */
function copyText(readings: readonly Reading[]): string {
  let text = "";
  for (const r of readings) {
    const unit = r.unit ?? null;
    text += `${r.time}\t${copyEscape(r.deviceId)}\t${copyEscape(r.sensorType)}\t${r.value}\t${
      unit === null ? "\\N" : copyEscape(unit)
    }\n`;
  }
  return text;
}
