/**
 * Prometheus text exposition of the service's counters.
 */
import type { Stats } from "./stats.ts";

/** Renders the metrics page; `up` holds the last known state of each dependency. */
export function renderMetrics(
  stats: Stats,
  up: { running: boolean; redis: boolean; database: boolean },
): string {
  const lines: string[] = [];
  const metric = (name: string, type: "counter" | "gauge", help: string, value: number) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
  };
  metric("db_writer_messages_read_total", "counter", "Stream entries read.", stats.messagesRead);
  metric("db_writer_rows_written_total", "counter", "Rows inserted into the table.", stats.rowsWritten);
  metric(
    "db_writer_duplicates_skipped_total",
    "counter",
    "Redelivered entries already in the table.",
    stats.duplicates,
  );
  metric("db_writer_dead_letters_total", "counter", "Entries sent to the dead-letter stream.", stats.deadLettered);
  metric("db_writer_batches_total", "counter", "Batches fully processed.", stats.batches);
  metric("db_writer_errors_total", "counter", "Failed attempts (each retry counts).", stats.errors);
  metric("db_writer_last_batch_seconds", "gauge", "Duration of the last batch.", stats.lastBatchMs / 1000);
  metric("db_writer_running", "gauge", "1 while the consume loop runs.", up.running ? 1 : 0);
  metric("db_writer_redis_up", "gauge", "1 when Redis answered the last check.", up.redis ? 1 : 0);
  metric("db_writer_database_up", "gauge", "1 when PostgreSQL answered the last check.", up.database ? 1 : 0);
  metric(
    "db_writer_uptime_seconds",
    "gauge",
    "Seconds since start.",
    Math.round((Date.now() - stats.startedAt) / 1000),
  );
  return lines.join("\n") + "\n";
}
