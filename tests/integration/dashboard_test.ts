/**
 * The Grafana dashboard only queries metrics the service exposes, and the
 * Prometheus example scrapes the right path.
 */
import assert from "node:assert/strict";
import { renderMetrics } from "../../src/ops/metrics.ts";
import { Stats } from "../../src/ops/stats.ts";

const root = new URL("../../deploy/", import.meta.url);

function exprs(node: unknown): string[] {
  if (Array.isArray(node)) return node.flatMap(exprs);
  if (node && typeof node === "object") {
    return Object.entries(node).flatMap(([k, v]) => (k === "expr" && typeof v === "string" ? [v] : exprs(v)));
  }
  return [];
}

Deno.test("the Grafana dashboard queries only metrics that /metrics serves", async () => {
  const dashboard = JSON.parse(await Deno.readTextFile(new URL("grafana/db-writer-dashboard.json", root)));
  assert.equal(dashboard.uid, "db-writer");
  const queries = exprs(dashboard.panels);
  assert.ok(queries.length >= 15, `${queries.length} queries`);

  const page = renderMetrics(new Stats(), {
    running: true,
    redis: true,
    database: true,
    outages: { redis: 0, database: 0 },
    memory: { rss: 1, heapUsed: 1, heapTotal: 1 },
    lag: { lag: 0, pending: 0, at: 0, streams: [{ stream: "s", lag: 0, pending: 0 }] },
  });
  const served = new Set(page.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.split(/[{ ]/)[0]!));
  const used = new Set(queries.flatMap((q) => q.match(/\b(db_writer|process)_[a-z_]+/g) ?? []));
  for (const name of used) assert.ok(served.has(name), `the dashboard queries ${name}, which /metrics does not serve`);
  // The main families are all on the dashboard.
  for (
    const name of [
      "db_writer_rows_written_total",
      "db_writer_dead_letters_by_reason_total",
      "db_writer_consumer_lag",
      "db_writer_pending_entries",
      "db_writer_write_duration_seconds_bucket",
      "db_writer_batch_size_bucket",
      "db_writer_redis_reconnects_total",
      "process_resident_memory_bytes",
    ]
  ) {
    assert.ok(used.has(name), `${name} is not on the dashboard`);
  }
  // Panels do not overlap on the grid.
  const cells = new Set<string>();
  for (const p of dashboard.panels as { title: string; gridPos: { x: number; y: number; w: number; h: number } }[]) {
    for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
      for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
        assert.ok(!cells.has(`${x},${y}`), `${p.title} overlaps another panel`);
        cells.add(`${x},${y}`);
      }
    }
  }
});

Deno.test("the Prometheus example scrapes /metrics on the default port", async () => {
  const text = await Deno.readTextFile(new URL("prometheus/prometheus.yml", root));
  assert.match(text, /job_name: db-writer/);
  assert.match(text, /metrics_path: \/metrics/);
  assert.match(text, /:9464/);
});
