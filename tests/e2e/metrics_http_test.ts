/**
 * /metrics of a running service against real Redis and PostgreSQL: the
 * counters, the lag and pending gauges and the reason labels move as entries
 * wait, flow and fail. Also LagMonitor on its own against real Redis.
 */
import assert from "node:assert/strict";
import { addEntries } from "../_helpers/streams.ts";
import { createWorld, uniqueName } from "../_helpers/world.ts";
import { message, runCli, spawnService } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { freePort } from "../_helpers/net.ts";
import { silentLogger } from "../_helpers/logger.ts";
import { LagMonitor } from "../../src/ops/lag.ts";

/** The value of one sample line (`name{labels}`), or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split("\n")) {
    if (line.startsWith(series + " ")) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

Deno.test("LagMonitor reads lag and pending per stream from XINFO GROUPS", async () => {
  await using world = await createWorld();
  const a = `${world.prefix}:d1:temp`, b = `${world.prefix}:d2:temp`;
  await addEntries(world.redis, a, Array.from({ length: 5 }, (_, i) => ({ value: String(i) })));
  await addEntries(world.redis, b, [{ value: "1" }]);
  await world.redis.xgroup("CREATE", a, world.group, "0");
  await world.redis.xgroup("CREATE", b, world.group, "0");
  await world.redis.xreadgroup("GROUP", world.group, "c1", "COUNT", 2, "STREAMS", a, ">");
  const lag = new LagMonitor(world.redis, {
    group: world.group,
    streams: () => [a, b, `${world.prefix}:missing`],
    intervalMs: 100,
    log: silentLogger,
    now: () => 42,
  });
  assert.equal(lag.snapshot, undefined);
  const snap = await lag.refresh();
  assert.deepEqual(snap, {
    streams: [{ stream: a, lag: 3, pending: 2 }, { stream: b, lag: 1, pending: 0 }],
    lag: 4,
    pending: 2,
    at: 42,
  });
  assert.deepEqual(lag.totals(), { lag: 4, pending: 2 });

  // The loop refreshes on its interval until stopped.
  await world.redis.xreadgroup("GROUP", world.group, "c1", "COUNT", 10, "STREAMS", a, ">");
  const stop = new AbortController();
  const loop = lag.run(stop.signal);
  await waitFor(() => lag.totals()?.pending === 5, { timeoutMs: 10_000, what: "pending 5 after another read" });
  assert.equal(lag.totals()?.lag, 1);
  stop.abort();
  await loop;
});

Deno.test("/metrics: counters, lag and pending move as entries wait, flow and fail", async (t) => {
  await using world = await createWorld();
  const port = freePort();
  const consumer = uniqueName("c");
  const env = world.env({
    HTTP_PORT: String(port),
    HTTP_HOST: "127.0.0.1",
    LAG_INTERVAL_SEC: "0.2",
    BATCH_SIZE: "10",
    WRITE_CONCURRENCY: "1",
    RETRY_MAX_MS: "200",
    CONSUMER_NAME: consumer,
  });
  const stream = `${world.prefix}:esp32:temperature`;
  const series = (name: string) => `${name}{stream="${stream}"}`;
  await addEntries(
    world.redis,
    stream,
    Array.from(
      { length: 50 },
      (_, i) => ({ value: String(i), timestamp: `2026-11-28T10:00:${String(i).padStart(2, "0")}Z` }),
    ),
  );
  // No table yet: every write fails as an outage, so entries are read and then wait.
  await using svc = spawnService(["run"], { ...env, MIGRATE_ON_START: "false" });
  await svc.waitForLog(message("http listening"), 30_000);
  const scrape = async () => {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(res.status, 200);
    return await res.text();
  };

  /** Waits for `fn` to return a page (string), not false. */
  const until = async (fn: () => Promise<string | false>, ms: number, what: string): Promise<string> =>
    String(await waitFor(fn, { timeoutMs: ms, what: what }));

  await t.step("while PostgreSQL refuses: entries pending, the rest lagging, database down", async () => {
    const text = await until(
      async () => {
        const m = await scrape();
        const pending = sample(m, series("db_writer_stream_pending")) ?? 0;
        return pending > 0 && sample(m, "db_writer_database_up") === 0 ? m : false;
      },
      30_000,
      "pending entries while the table is missing",
    );
    const pending = sample(text, series("db_writer_stream_pending"))!;
    const lag = sample(text, series("db_writer_stream_lag"))!;
    assert.ok(lag > 0 && lag < 50, `lag ${lag}`);
    assert.equal(pending + lag, 50);
    assert.equal(sample(text, "db_writer_pending_entries"), pending);
    assert.equal(sample(text, "db_writer_rows_written_total"), 0);
    assert.equal(sample(text, "db_writer_ready"), 0);
    assert.ok(sample(text, "db_writer_errors_total")! > 0);
    assert.ok(sample(text, 'db_writer_outages_total{dependency="postgres"}')! >= 1);
  });

  await t.step("table created: rows flow, lag and pending fall to 0, histograms fill", async () => {
    const out = await runCli(["migrate", "up"], env);
    assert.equal(out.code, 0, out.stderr);
    const text = await until(
      async () => {
        const m = await scrape();
        return sample(m, "db_writer_rows_written_total") === 50 && sample(m, series("db_writer_stream_lag")) === 0 &&
            sample(m, series("db_writer_stream_pending")) === 0
          ? m
          : false;
      },
      30_000,
      "50 rows and no backlog",
    );
    assert.equal(sample(text, "db_writer_messages_read_total"), 50);
    assert.equal(sample(text, "db_writer_consumer_lag"), 0);
    assert.equal(sample(text, "db_writer_database_up"), 1);
    assert.equal(sample(text, "db_writer_ready"), 1);
    assert.ok(sample(text, "db_writer_batch_size_count")! >= 5);
    assert.equal(sample(text, "db_writer_batch_size_sum"), 50);
    assert.equal(sample(text, 'db_writer_batch_size_bucket{le="10"}'), sample(text, "db_writer_batch_size_count"));
    assert.ok(sample(text, "db_writer_write_duration_seconds_count")! >= 5);
    assert.ok(sample(text, "process_resident_memory_bytes")! > 0);
  });

  await t.step("bad entries: dead letters counted by reason class", async () => {
    await addEntries(world.redis, stream, [
      { value: "abc", timestamp: "2026-11-28T11:00:00Z" },
      { value: "1", timestamp: "yesterday" },
      { value: "2", timestamp: "2026-11-28T11:00:01Z" },
    ]);
    const text = await until(
      async () => {
        const m = await scrape();
        return sample(m, "db_writer_dead_letters_total") === 2 && sample(m, "db_writer_rows_written_total") === 51
          ? m
          : false;
      },
      30_000,
      "2 dead letters and 51 rows",
    );
    assert.equal(sample(text, 'db_writer_dead_letters_by_reason_total{reason="bad_value"}'), 1);
    assert.equal(sample(text, 'db_writer_dead_letters_by_reason_total{reason="bad_timestamp"}'), 1);
    assert.equal(sample(text, 'db_writer_dead_letters_by_reason_total{reason="missing_field"}'), 0);
  });

  await t.step("a killed Redis connection counts as a reconnect", async () => {
    const before = sample(await scrape(), "db_writer_redis_reconnects_total")!;
    const clients = String(await world.redis.client("LIST")).split("\n");
    const mine = clients.find((l) => l.includes(`name=db-writer:${consumer} `));
    assert.ok(mine, "the service's command connection is listed by its name");
    const id = /\bid=(\d+)/.exec(mine)![1]!;
    await world.redis.client("KILL", "ID", id);
    await until(
      async () => {
        const m = await scrape();
        return sample(m, "db_writer_redis_reconnects_total")! > before ? m : false;
      },
      30_000,
      "a reconnect counted",
    );
  });

  await t.step("the summary line reports lag, pending, dead letters and retries", async () => {
    const line = await svc.waitForLog((r) => r.message === "throughput" && Number(r.dead_lettered) > 0, 15_000);
    for (const key of ["rows_per_sec", "lag", "pending", "retries", "dead_lettered"]) assert.ok(key in line, key);
  });
  svc.kill("SIGTERM");
  assert.equal((await svc.status).code, 0);
});
