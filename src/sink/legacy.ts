/**
 * Rows the previous service stored: it never acknowledged them, so its
 * entries come back as redeliveries, and the statement here inserts a
 * redelivered reading only when no such row exists (no source id, same
 * device, sensor, value and instant). That service handed naive times to
 * PostgreSQL, which read them in the session's time zone: on a database
 * whose `timezone` is not UTC its row for `10:00` sits at 10:00 local, not
 * at 10:00 UTC. A naive time is therefore looked for under both readings,
 * UTC and the time zone of this session, which is the database's (or the
 * role's) `timezone` setting, as that service's sessions had it. A time
 * with an offset has one reading only.
 */
import type { Reading } from "../ports.ts";

/**
 * `INSERT … SELECT` of the unnest of `columns` (`$1`…`$7`: time, device,
 * sensor, value, metadata, stream, id) that skips readings the previous
 * service stored; `$8` says, per row, whether its time was naive.
 */
export function insertSkippingLegacy(table: string, insert: string, columns: string, conflict: string): string {
  const local = `(u.ts AT TIME ZONE 'UTC') AT TIME ZONE current_setting('TimeZone')`;
  return `${insert}SELECT ts, d, s, v, m, ss, si FROM unnest(${columns}, $8::text[]::bool[]) ` +
    `AS u(ts, d, s, v, m, ss, si, naive) ` +
    `WHERE NOT EXISTS (SELECT 1 FROM ${table} l WHERE l.source_id IS NULL AND l.device_id = u.d ` +
    `AND l.sensor_type = u.s AND l.value = u.v ` +
    `AND l."timestamp" IN (u.ts, CASE WHEN u.naive THEN ${local} END)) ${conflict}`;
}

/**
 * The `$8` of {@link insertSkippingLegacy}: whether each reading's time was
 * naive, as text (the driver would send a boolean array typed as one boolean).
 */
export function naiveFlags(readings: readonly Reading[]): string[] {
  return readings.map((r) => (r.naiveTime === true ? "t" : "f"));
}
