/**
 * A new stream's first reading is stored without waiting for the discovery
 * scan (DISCOVERY_INTERVAL_SEC is an hour here): through Redis's new-key
 * notifications where the server has them (a private redis-server, so that
 * no shared configuration changes), else through the DBSIZE check.
 */
import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import { spawnService } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { createWorld, type World } from "../_helpers/world.ts";
import { message, stopService } from "../_helpers/process.ts";
import { tableRows } from "../_helpers/rows.ts";
import { globToRegExp, hasNewKeyEvents } from "../../src/source/new_streams.ts";
import { privateRedis } from "../_helpers/redis_server.ts";

const SLOW_SCAN = { DISCOVERY_INTERVAL_SEC: "3600", BATCH_TIMEOUT_SEC: "5" };

/** Starts the service, waits until it consumes a first stream, then adds a new one and waits for its row. */
async function newStreamIsStored(world: World, redis: Redis, env: Record<string, string>, mode: string) {
  const first = `${world.prefix}:dev-1:temperature`;
  await redis.xadd(first, "*", "value", "1", "timestamp", "2026-12-01T10:00:00Z");
  await using svc = spawnService(["run"], world.env({ ...SLOW_SCAN, ...env }));
  const watching = await svc.waitForLog(message("watching for new streams"));
  assert.equal(watching.mode, mode);
  await waitFor(async () => (await tableRows(world)).length === 1, {
    timeoutMs: 20_000,
    what: "the first stream's row",
  });
  // Not matching STREAM_PATTERN: never consumed.
  const other = `${world.prefix}_other:dev-9:temperature`;
  await redis.xadd(other, "*", "value", "9", "timestamp", "2026-12-01T10:00:00Z");
  const late = `${world.prefix}:dev-2:humidity`;
  await redis.xadd(late, "*", "value", "2", "timestamp", "2026-12-01T10:00:01Z");
  await waitFor(
    async () => (await tableRows(world)).some((r) => r.source_stream === late),
    { timeoutMs: 20_000, what: "the new stream's row, long before the next scan" },
  );
  assert.equal(await stopService(svc), 0);
  assert.deepEqual((await tableRows(world)).map((r) => r.source_stream).sort(), [first, late]);
  assert.equal(await redis.exists(other), 1);
  assert.deepEqual(await redis.xinfo("GROUPS", other), [], "no group on a stream that does not match");
  await redis.del(other);
}

Deno.test("a new stream is consumed within the block time, not the discovery interval: notifications", async () => {
  await using server = await privateRedis(["--notify-keyspace-events", "En"]);
  await using world = await createWorld();
  await newStreamIsStored(world, server.client, { REDIS_URL: `redis://127.0.0.1:${server.port}/0` }, "notify");
});

Deno.test("NEW_STREAM_NOTIFY=enable turns the notifications on when the server has them off", async () => {
  await using server = await privateRedis();
  await using world = await createWorld();
  const env = { REDIS_URL: `redis://127.0.0.1:${server.port}/0`, NEW_STREAM_NOTIFY: "enable" };
  await newStreamIsStored(world, server.client, env, "notify");
  const [, flags] = (await server.client.config("GET", "notify-keyspace-events")) as string[];
  assert.ok(hasNewKeyEvents(flags ?? ""), flags);
});

Deno.test("without notifications (the shared server's default), the DBSIZE check finds a new stream", async () => {
  await using world = await createWorld();
  const [, flags] = (await world.redis.config("GET", "notify-keyspace-events")) as string[];
  const expected = hasNewKeyEvents(flags ?? "") ? "notify" : "poll";
  await newStreamIsStored(world, world.redis, {}, expected);
});

Deno.test("NEW_STREAM_NOTIFY=off leaves new streams to the scan", async () => {
  await using world = await createWorld();
  await using svc = spawnService(["run"], world.env({ NEW_STREAM_NOTIFY: "off" }));
  const watching = await svc.waitForLog(message("watching for new streams"));
  assert.equal(watching.mode, "scan");
  assert.equal(await stopService(svc), 0);
});

Deno.test("globToRegExp matches as Redis's glob does", () => {
  const cases: [glob: string, key: string, match: boolean][] = [
    ["mqtt_stream:*", "mqtt_stream:esp32-01:temperature", true],
    ["mqtt_stream:*", "mqtt_stream", false],
    ["mqtt_stream:*", "other:mqtt_stream:x", false],
    ["s:?", "s:a", true],
    ["s:?", "s:ab", false],
    ["s:[ab]*", "s:b1", true],
    ["s:[^ab]*", "s:b1", false],
    ["s:[a-c]", "s:b", true],
    ["s:\\*", "s:*", true],
    ["s:\\*", "s:x", false],
    ["a.b", "axb", false],
    ["s:*\n", "s:x\n", true],
  ];
  for (const [glob, key, match] of cases) assert.equal(globToRegExp(glob).test(key), match, `${glob} ~ ${key}`);
});

Deno.test("discovered streams: one summary line (count and a few names), the per-stream lines only at debug", async () => {
  await using world = await createWorld();
  const streams = Array.from({ length: 8 }, (_, i) => `${world.prefix}:dev-${i}:temperature`);
  for (const s of streams) await world.redis.xadd(s, "*", "value", "1", "timestamp", "2026-12-01T10:00:00Z");
  await using svc = spawnService(["run"], world.env());
  const line = await svc.waitForLog(message("consuming new streams"));
  assert.equal(line.count, 8);
  assert.equal(line.total, 8);
  assert.deepEqual(line.streams, streams.slice(0, 5));
  assert.equal(line.more, 3);
  await waitFor(async () => (await tableRows(world)).length === 8, { timeoutMs: 20_000, what: "every row" });
  assert.equal(await stopService(svc), 0);
  assert.equal(svc.records().filter((r) => r.message === "consuming stream").length, 0, "none at info");
  assert.equal(svc.records().filter((r) => r.message === "consuming new streams").length, 1);
});
