/**
 * Prometheus text exposition (format 0.0.4) of the service's counters,
 * histograms and gauges. Small on purpose: the service owns every value, so
 * a registry library would add nothing but a dependency.
 */
import type { Stats } from "./stats.ts";
import type { Histogram } from "./histogram.ts";
import type { LagSnapshot } from "./lag_reply.ts";
import { REASON_CLASSES } from "../ports.ts";

/** Most streams given their own lag/pending series; the totals always cover all. */
export const MAX_LAG_SERIES = 500;

/** The state besides {@link Stats} that the page shows. */
export interface MetricsState {
  readonly running: boolean;
  readonly redis: boolean;
  readonly database: boolean;
  /** What /readyz answers (see ops/readiness.ts); running, redis and database alone when absent. */
  readonly ready?: boolean;
  /** The latest consumer-lag snapshot, if one was taken. */
  readonly lag?: LagSnapshot;
  /** Outages started since start, per dependency. */
  readonly outages?: { readonly redis: number; readonly database: number };
  /** Process memory (`Deno.memoryUsage()`). */
  readonly memory?: { readonly rss: number; readonly heapUsed: number; readonly heapTotal: number };
  /** Clock for the uptime gauge (ms). */
  readonly now?: number;
}

type Labels = Readonly<Record<string, string>>;

/** Escapes a label value as the text format requires. */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function series(name: string, labels: Labels | undefined, value: number): string {
  const l = labels && Object.keys(labels).length > 0
    ? `{${Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`
    : "";
  const v = Number.isFinite(value) ? String(value) : value > 0 ? "+Inf" : value < 0 ? "-Inf" : "NaN";
  return `${name}${l} ${v}`;
}

class Page {
  readonly lines: string[] = [];

  family(name: string, type: "counter" | "gauge" | "histogram", help: string): this {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    return this;
  }

  one(name: string, type: "counter" | "gauge", help: string, value: number, labels?: Labels): void {
    this.family(name, type, help).lines.push(series(name, labels, value));
  }

  add(name: string, value: number, labels?: Labels): void {
    this.lines.push(series(name, labels, value));
  }

  histogram(name: string, help: string, h: Histogram): void {
    this.family(name, "histogram", help);
    for (const b of h.cumulative()) this.add(`${name}_bucket`, b.count, { le: b.le });
    this.add(`${name}_sum`, h.sum);
    this.add(`${name}_count`, h.count);
  }
}

/** Renders the metrics page. */
export function renderMetrics(stats: Stats, state: MetricsState): string {
  const p = new Page();
  p.one("db_writer_messages_read_total", "counter", "Stream entries read.", stats.messagesRead);
  p.one("db_writer_rows_written_total", "counter", "Rows inserted into the table.", stats.rowsWritten);
  p.one(
    "db_writer_duplicates_skipped_total",
    "counter",
    "Redelivered entries already in the table.",
    stats.duplicates,
  );
  p.one("db_writer_dead_letters_total", "counter", "Entries sent to the dead-letter stream.", stats.deadLettered);
  p.family("db_writer_dead_letters_by_reason_total", "counter", "Entries sent to the dead-letter stream, by reason.");
  for (const reason of REASON_CLASSES) {
    p.add("db_writer_dead_letters_by_reason_total", stats.deadLetteredByClass.get(reason) ?? 0, { reason });
  }
  p.one("db_writer_batches_total", "counter", "Batches fully processed.", stats.batches);
  p.one("db_writer_errors_total", "counter", "Failed attempts (each retry counts).", stats.errors);
  p.histogram("db_writer_batch_size", "Entries per processed batch.", stats.batchSizes);
  p.histogram(
    "db_writer_write_duration_seconds",
    "Time to commit one batch's rows, retries included.",
    stats.writeSeconds,
  );
  p.one("db_writer_last_batch_seconds", "gauge", "Duration of the last batch.", stats.lastBatchMs / 1000);
  p.one("db_writer_redis_reconnects_total", "counter", "Redis connections re-established.", stats.redisReconnects);
  if (state.outages) {
    p.family("db_writer_outages_total", "counter", "Outages of a dependency (each counted once, not per retry).");
    p.add("db_writer_outages_total", state.outages.redis, { dependency: "redis" });
    p.add("db_writer_outages_total", state.outages.database, { dependency: "postgres" });
  }

  if (state.lag) {
    const lag = state.lag;
    if (lag.lag !== null) {
      p.one(
        "db_writer_consumer_lag",
        "gauge",
        "Entries not yet delivered to the consumer group, all input streams (absent while unknown).",
        lag.lag,
      );
    }
    p.one(
      "db_writer_pending_entries",
      "gauge",
      "Entries delivered but not yet acknowledged, all input streams.",
      lag.pending,
    );
    // Biggest backlogs first, so a cap drops the least interesting streams.
    const shown = [...lag.streams].sort((a, b) => (b.lag ?? 0) + b.pending - ((a.lag ?? 0) + a.pending))
      .slice(0, MAX_LAG_SERIES);
    p.family("db_writer_stream_lag", "gauge", "Entries not yet delivered to the consumer group, per stream.");
    for (const s of shown) if (s.lag !== null) p.add("db_writer_stream_lag", s.lag, { stream: s.stream });
    p.family("db_writer_stream_pending", "gauge", "Entries delivered but not yet acknowledged, per stream.");
    for (const s of shown) p.add("db_writer_stream_pending", s.pending, { stream: s.stream });
    p.one("db_writer_streams", "gauge", "Input streams consumed.", lag.streams.length);
    p.one(
      "db_writer_lag_refreshed_timestamp_seconds",
      "gauge",
      "When lag and pending were last read from Redis (Unix seconds).",
      lag.at / 1000,
    );
  }

  p.one("db_writer_running", "gauge", "1 while the consume loop runs.", state.running ? 1 : 0);
  p.one(
    "db_writer_ready",
    "gauge",
    "1 when /readyz answers 200: the loop runs, makes progress, and Redis and PostgreSQL are up.",
    (state.ready ?? (state.running && state.redis && state.database)) ? 1 : 0,
  );
  p.one("db_writer_redis_up", "gauge", "1 while Redis answers and is not in an outage.", state.redis ? 1 : 0);
  p.one(
    "db_writer_database_up",
    "gauge",
    "1 while PostgreSQL answers and is not in an outage (a write past WRITE_TIMEOUT_SEC is one).",
    state.database ? 1 : 0,
  );
  const now = state.now ?? Date.now();
  p.one("db_writer_uptime_seconds", "gauge", "Seconds since start.", Math.round((now - stats.startedAt) / 1000));
  p.one("process_start_time_seconds", "gauge", "Start time of the process (Unix seconds).", stats.startedAt / 1000);
  if (state.memory) {
    p.one("process_resident_memory_bytes", "gauge", "Resident memory size.", state.memory.rss);
    p.one("db_writer_heap_used_bytes", "gauge", "JavaScript heap in use.", state.memory.heapUsed);
    p.one("db_writer_heap_total_bytes", "gauge", "JavaScript heap reserved.", state.memory.heapTotal);
  }
  return p.lines.join("\n") + "\n";
}
