/**
 * The `telemetry` layout in the bench (`--layout telemetry`): the iotDashboard's
 * table, keyed by (time, device_id, metric), with units, range checks and the
 * reference to `devices`. The same backlog as the readings drains, its COPY
 * ceiling made of the rows the service stores for it in that layout.
 */
import type postgres from "postgres";
import { BUILT_IN_RULES } from "../src/decode/metric_rules.ts";

/**
 * The service's settings for the layout: range checks on (its default, set
 * anyway), with the ranges of pressure and co2 widened to take the bench's
 * values (20..30): every reading passes the check, which is measured.
 */
export const TELEMETRY_ENV: Readonly<Record<string, string>> = {
  TABLE_LAYOUT: "telemetry",
  RANGE_CHECKS: "true",
  METRIC_RULES: "pressure=0..100,co2=0..100",
};

/**
 * `schema.devices` as the dashboard has it (the part the foreign key needs),
 * with every device of `deviceIds`; made before a telemetry table is migrated,
 * so that its migration adds the foreign key.
 */
export async function registerDevices(sql: postgres.Sql, schema: string, deviceIds: Iterable<string>): Promise<void> {
  const devices = `"${schema}".devices`;
  await sql.unsafe(`CREATE TABLE IF NOT EXISTS ${devices} (id TEXT PRIMARY KEY, name TEXT NOT NULL)`);
  await sql.unsafe(
    `INSERT INTO ${devices} SELECT i, i FROM unnest($1::text[]) AS i ON CONFLICT (id) DO NOTHING`,
    [[...new Set(deviceIds)]],
  );
}

/**
 * The readings-layout COPY text of the bench (time, device, sensor, value,
 * metadata, stream, entry id) as the telemetry rows the service stores for
 * the same messages: time, device_id, metric, value, unit (the built-in unit
 * of the metric; the bench's messages carry none).
 */
export function telemetryChunks(chunks: readonly string[]): string[] {
  return chunks.map((chunk) => {
    let out = "";
    for (const line of chunk.split("\n")) {
      if (line === "") continue;
      const [time, device, metric, value] = line.split("\t", 4) as [string, string, string, string];
      out += `${time}\t${device}\t${metric}\t${value}\t${BUILT_IN_RULES[metric]?.unit ?? "\\N"}\n`;
    }
    return out;
  });
}

/** The device ids of readings-layout COPY text (second column). */
export function deviceIdsOf(chunks: readonly string[]): Set<string> {
  const ids = new Set<string>();
  for (const chunk of chunks) for (const line of chunk.split("\n")) if (line !== "") ids.add(line.split("\t", 2)[1]!);
  return ids;
}

/** The `time` of the last row (the bench's times grow with the message number): once the table holds it, the drain is near its end. */
export function lastTime(chunks: readonly string[]): string {
  const lines = (chunks.at(-1) ?? "").trimEnd().split("\n");
  return lines.at(-1)!.split("\t", 1)[0]!;
}
