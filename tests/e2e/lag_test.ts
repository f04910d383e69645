/**
 * Consumer lag against the real Redis (7.0 here): right after the producer
 * trims (`XADD MAXLEN ~`), where Redis's own `lag` keeps counting entries
 * trimmed before delivery; and "unknown" (absent, null), never 0, until it has
 * been measured, a whole PostgreSQL outage at start included.
 */
import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import { runCli, spawnService } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { createWorld, type World } from "../_helpers/world.ts";
import { freePort } from "../_helpers/faults.ts";
import { LagMonitor } from "../../src/ops/lag.ts";
import { StreamDiscovery } from "../../src/source/discovery.ts";
import type { Logger } from "../../src/log.ts";

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** Adds `n` entries the way a trimming producer does. */
async function produceTrimmed(redis: Redis, stream: string, n: number, maxLen = 100): Promise<void> {
  const pipe = redis.pipeline();
  for (let i = 0; i < n; i++) pipe.xadd(stream, "MAXLEN", "~", maxLen, "*", "value", String(i));
  await pipe.exec();
}

/** Delivers up to `count` entries to consumer `c` (as the service's reads do). */
async function consume(world: World, stream: string, count: number): Promise<void> {
  await world.redis.xreadgroup("GROUP", world.group, "c", "COUNT", count, "STREAMS", stream, ">");
}

function monitorFor(world: World) {
  const discovery = new StreamDiscovery(world.redis, {
    patterns: [`${world.prefix}:*`],
    group: world.group,
    deadLetterStream: world.deadLetterStream,
    log: quiet,
  });
  const lag = new LagMonitor(world.redis, {
    group: world.group,
    streams: () => discovery.streams,
    scanned: () => discovery.scanned,
    intervalMs: 1000,
    log: quiet,
  });
  return { discovery, lag };
}

Deno.test("lag: 0 once everything is consumed after the producer trimmed entries never delivered", async () => {
  await using world = await createWorld();
  const stream = `${world.prefix}:dev1:temperature`;
  const { discovery, lag } = monitorFor(world);
  await produceTrimmed(world.redis, stream, 1000);
  await discovery.refresh(); // the group, created at 0 as the service does
  await consume(world, stream, 100_000);
  await produceTrimmed(world.redis, stream, 300); // trims entries the group has not seen yet
  await consume(world, stream, 100_000);
  const snap = await lag.refresh();
  assert.equal(snap?.lag, 0, `everything delivered: ${JSON.stringify(snap)}`);
  assert.equal(snap?.streams[0]?.lag, 0);
});

Deno.test("lag: exact when part is consumed after trimming, and every entry when the group is behind the first", async () => {
  await using world = await createWorld();
  const stream = `${world.prefix}:dev1:temperature`;
  const { discovery, lag } = monitorFor(world);
  await produceTrimmed(world.redis, stream, 1000);
  await discovery.refresh();
  await consume(world, stream, 100_000);
  await produceTrimmed(world.redis, stream, 300);
  await consume(world, stream, 40);
  const [last] = await world.redis.xinfo("GROUPS", stream) as unknown[][];
  const delivered = String(last![last!.indexOf("last-delivered-id") + 1]);
  const waiting = (await world.redis.xrange(stream, `(${delivered}`, "+")).length;
  assert.ok(waiting > 0);
  assert.equal((await lag.refresh())?.lag, waiting, "the entries after the last delivered one, counted");

  // A group that has delivered nothing since the producer trimmed past it: the whole stream waits.
  await world.redis.xgroup("SETID", stream, world.group, "0");
  assert.equal((await lag.refresh())?.lag, await world.redis.xlen(stream));
});

Deno.test("lag: unknown until the streams have been looked for", async () => {
  await using world = await createWorld();
  const stream = `${world.prefix}:dev1:temperature`;
  await produceTrimmed(world.redis, stream, 20);
  const { discovery, lag } = monitorFor(world);
  assert.equal(await lag.refresh(), undefined, "not 0: no stream looked for yet");
  assert.equal(lag.totals(), undefined);
  await discovery.refresh();
  assert.equal((await lag.refresh())?.lag, 20);
});

Deno.test("lag: absent from /metrics and null in health through a PostgreSQL outage at start", async () => {
  await using world = await createWorld();
  const stream = `${world.prefix}:dev1:temperature`;
  await produceTrimmed(world.redis, stream, 50);
  const port = freePort();
  const env = world.env({
    HTTP_PORT: String(port),
    HTTP_HOST: "127.0.0.1",
    DATABASE_URL: "postgres://postgres@127.0.0.1:1/postgres",
    LAG_INTERVAL_SEC: "0.2",
  });
  await using svc = spawnService(["run"], env);
  await svc.waitForLog((r) => r.message === "postgres unavailable; retrying until it is back", 60_000);
  // Several lag intervals into the outage.
  const page = await waitFor(
    async () => {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => undefined);
      const text = await res?.text();
      return text && /db_writer_uptime_seconds [1-9]/.test(text) ? text : false;
    },
    { timeoutMs: 60_000, what: "a page a second into the run" },
  );
  assert.doesNotMatch(String(page), /^db_writer_consumer_lag /m, "no lag series while it is unknown");
  const health = await runCli(["health"], env);
  assert.equal(JSON.parse(health.stdout).lag, null, health.stdout);
  const throughput = svc.records().filter((r) => r.message === "throughput");
  for (const t of throughput) assert.equal(t.lag, null, "the log line says null, not 0");
});

Deno.test("lag: measured as soon as the streams are known, not a whole LAG_INTERVAL_SEC later", async () => {
  await using world = await createWorld();
  const stream = `${world.prefix}:dev1:temperature`;
  await produceTrimmed(world.redis, stream, 30);
  const port = freePort();
  // An interval far longer than the test: only the early look can produce a figure.
  await using svc = spawnService(
    ["run"],
    world.env({ HTTP_PORT: String(port), HTTP_HOST: "127.0.0.1", LAG_INTERVAL_SEC: "3600" }),
  );
  await svc.waitForLog((r) => r.message === "consuming", 60_000);
  const page = await waitFor(
    async () => {
      const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text(), () => "");
      return /^db_writer_streams 1$/m.test(text) ? text : false;
    },
    { timeoutMs: 30_000, what: "a lag snapshot with the stream" },
  );
  assert.match(String(page), /^db_writer_consumer_lag \d+$/m);
});
