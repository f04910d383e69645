/**
 * Cost of the metrics: rendering /metrics, and one lag refresh (XINFO GROUPS
 * for every input stream, pipelined) against the real Redis.
 *
 *   deno bench --allow-all --frozen bench/metrics_bench.ts
 *
 * BENCH_LAG_STREAMS (default 1000) streams are created under a random prefix
 * and deleted when the run ends.
 */
import { Redis } from "ioredis";
import { renderMetrics } from "../src/ops/metrics.ts";
import { Stats } from "../src/ops/stats.ts";
import { LagMonitor } from "../src/ops/lag.ts";

const STREAMS = Number(Deno.env.get("BENCH_LAG_STREAMS") ?? 1000);
const REDIS_URL = Deno.env.get("TEST_REDIS_URL") || "redis://127.0.0.1:6379/15";
const prefix = `bench_lag_${crypto.randomUUID().slice(0, 8)}`;
const group = "bench";
const silent = { debug() {}, info() {}, warn() {}, error() {} };

const redis = new Redis(REDIS_URL, { lazyConnect: false });
const keys = Array.from({ length: STREAMS }, (_, i) => `${prefix}:dev${i}:temp`);
const setup = redis.pipeline();
for (const k of keys) {
  setup.xadd(k, "*", "value", "1");
  setup.xgroup("CREATE", k, group, "0");
}
await setup.exec();
globalThis.addEventListener("unload", () => {
  // Best effort: the process is ending; the keys are few and prefixed.
  void redis.del(...keys).finally(() => redis.disconnect());
});

const lag = new LagMonitor(redis, { group, streams: () => keys, intervalMs: 1000, log: silent });
const snapshot = await lag.refresh();

const stats = new Stats();
for (let i = 0; i < 1000; i++) {
  stats.batchSizes.observe(i % 600);
  stats.writeSeconds.observe((i % 50) / 1000);
}
const state = {
  running: true,
  redis: true,
  database: true,
  lag: snapshot,
  outages: { redis: 0, database: 0 },
  memory: Deno.memoryUsage(),
};

Deno.bench(`render /metrics with ${STREAMS} streams (500 shown)`, () => {
  renderMetrics(stats, state);
});

Deno.bench(`lag refresh: XINFO GROUPS on ${STREAMS} streams`, async () => {
  await lag.refresh();
});
