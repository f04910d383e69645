/**
 * Lines of the iotDashboard writer's `.env.example` that its current
 * generation never read (its stream, table and dead-letter stream are fixed
 * in its code), but db-writer does: with TABLE_LAYOUT=telemetry they would
 * override the layout's defaults. Pure: the warnings, for the log at start.
 */
import type { Config } from "./load.ts";

/** The `.env.example` values, and the telemetry layout's defaults they hide. */
const LEFTOVERS = [
  { env: "STREAM_PATTERN", example: "mqtt_stream:*", instead: "mqtt:ingestion" },
  { env: "DEAD_LETTER_STREAM", example: "mqtt_stream:failed", instead: "mqtt:dlq" },
  { env: "TABLE_NAME", example: "sensor_readings", instead: "telemetry" },
] as const;

/** One line per such setting (none unless TABLE_LAYOUT=telemetry). */
export function leftoverWarnings(
  config: Pick<Config, "tableLayout" | "streamPatterns" | "deadLetterStream" | "table">,
): string[] {
  if (config.tableLayout !== "telemetry") return [];
  const values: Record<string, string> = {
    STREAM_PATTERN: config.streamPatterns.join(","),
    DEAD_LETTER_STREAM: config.deadLetterStream,
    TABLE_NAME: config.table.schema ? `${config.table.schema}.${config.table.name}` : config.table.name,
  };
  return LEFTOVERS.filter((l) => values[l.env] === l.example).map((l) =>
    `${l.env}=${l.example} is set: the iotDashboard writer's .env.example has this line, which its current ` +
    `generation never read; db-writer does, and it wins over TABLE_LAYOUT=telemetry's ${l.instead}. ` +
    `Remove the line unless you mean it`
  );
}
