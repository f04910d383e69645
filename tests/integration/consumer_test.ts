/**
 * The Redis source on its own, against real Redis: batch bounds, own pending
 * first, claims of idle entries with delivery counts, and the tidying of
 * consumers that left.
 */
import assert from "node:assert/strict";
import { addEntries, consumerIdleMs, minPendingIdleMs, pendingCount } from "../_helpers/streams.ts";
import { waitFor } from "../_helpers/wait.ts";
import { createWorld } from "../_helpers/world.ts";
import { REDIS_URL } from "../_helpers/services.ts";
import { RedisSource } from "../../src/source/consumer.ts";
import { StreamDiscovery } from "../../src/source/discovery.ts";
import { DeadLetterWriter } from "../../src/dead_letters/writer.ts";
import { closeRedis, connectRedis } from "../../src/source/redis.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { Logger } from "../../src/log.ts";

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

async function source(
  world: Awaited<ReturnType<typeof createWorld>>,
  consumer: string,
  opts: { batchSize?: number; claimMinIdleMs?: number; consumerRemoveIdleMs?: number } = {},
) {
  const settings = loadConfig({ REDIS_URL }).redis;
  const cmd = connectRedis(settings, { name: "test-cmd" });
  const blocking = connectRedis(settings, { name: "test-read" });
  await Promise.all([cmd.connect(), blocking.connect()]);
  const discovery = new StreamDiscovery(cmd, {
    patterns: [`${world.prefix}:*`],
    group: world.group,
    deadLetterStream: world.deadLetterStream,
    log: quiet,
  });
  const src = new RedisSource(cmd, blocking, discovery, {
    group: world.group,
    consumer,
    batchSize: opts.batchSize ?? 10,
    blockMs: 50,
    claimMinIdleMs: opts.claimMinIdleMs ?? 60_000,
    consumerRemoveIdleMs: opts.consumerRemoveIdleMs ?? 3_600_000,
    discoveryIntervalMs: 60_000,
    log: quiet,
  });
  return Object.assign(src, {
    [Symbol.asyncDispose]: async () => {
      await Promise.all([closeRedis(cmd), closeRedis(blocking)]);
    },
  });
}

const never = new AbortController().signal;
const value = (i: number) => ({ value: String(i), timestamp: "2026-11-28T10:00:00Z" });

Deno.test("a read never returns more than BATCH_SIZE entries, however many streams there are", async () => {
  await using world = await createWorld();
  for (let s = 0; s < 30; s++) await addEntries(world.redis, `${world.prefix}:d${s}:t`, [value(1), value(2), value(3)]);
  await using src = await source(world, "c1", { batchSize: 7 });
  const seen = new Set<string>();
  for (let i = 0; i < 40 && seen.size < 90; i++) {
    const batch = await src.read(never);
    assert.ok(batch.length <= 7, `batch of ${batch.length}`);
    for (const d of batch) seen.add(`${d.stream} ${d.id}`);
    await src.ack(batch);
  }
  assert.equal(seen.size, 90, "every entry of every stream is read");
});

Deno.test("a backlog is read in rotating windows of a few streams, back to all streams once it is drained", async () => {
  await using world = await createWorld();
  const streams = Array.from({ length: 20 }, (_, s) => `${world.prefix}:d${String(s).padStart(2, "0")}:t`);
  for (const s of streams) await addEntries(world.redis, s, Array.from({ length: 120 }, (_, i) => value(i)));
  await using src = await source(world, "c1", { batchSize: 100 });
  const seen = new Set<string>();
  const streamsPerRead: number[] = [];
  for (let i = 0; i < 100 && seen.size < 2400; i++) {
    const batch = await src.read(never);
    assert.ok(batch.length <= 100, `batch of ${batch.length}`);
    streamsPerRead.push(new Set(batch.map((d) => d.stream)).size);
    for (const d of batch) {
      assert.ok(!seen.has(`${d.stream} ${d.id}`), "no entry is read twice");
      seen.add(`${d.stream} ${d.id}`);
    }
    await src.ack(batch);
  }
  assert.equal(seen.size, 2400, "every entry of every stream is read");
  // The first read covers every stream (5 entries each); the backlog that
  // follows comes 2 streams × 50 entries at a time.
  assert.equal(streamsPerRead[0], 20);
  assert.deepEqual(streamsPerRead.slice(1, 11), Array(10).fill(2));
  // Drained: a new entry on any stream is found by the blocking read over all streams.
  assert.deepEqual(await src.read(never), []);
  const [id] = await addEntries(world.redis, streams[7]!, [value(1)]);
  const next = await src.read(never);
  assert.deepEqual(next.map((d) => [d.stream, d.id]), [[streams[7], id]]);
});

Deno.test("ack: one batch over many streams, with more ids in one stream than a script can unpack at once", async () => {
  await using world = await createWorld();
  const streams = Array.from({ length: 5 }, (_, s) => `${world.prefix}:d${s}:t`);
  await addEntries(world.redis, streams[0]!, Array.from({ length: 9000 }, (_, i) => value(i)));
  for (const s of streams.slice(1)) await addEntries(world.redis, s, [value(1), value(2)]);
  await using src = await source(world, "c1", { batchSize: 20_000 });
  const batch = await src.read(never);
  assert.equal(batch.length, 9008);
  const pending = async () =>
    (await Promise.all(streams.map((s) => world.redis.xpending(s, world.group) as Promise<[number]>)))
      .map((p) => Number(p[0]));
  assert.deepEqual(await pending(), [9000, 2, 2, 2, 2]);
  // Everything but one entry of the last stream: exactly those are acknowledged.
  await src.ack(
    batch.filter((d) => !(d.stream === streams[4] && d === batch.findLast((e) => e.stream === streams[4]))),
  );
  assert.deepEqual(await pending(), [0, 0, 0, 0, 1]);
  await src.ack(batch.filter((d) => d.stream === streams[4]));
  assert.deepEqual(await pending(), [0, 0, 0, 0, 0]);
});

Deno.test("own pending entries come first, with their delivery counts", async () => {
  await using world = await createWorld();
  const stream = `${world.prefix}:dev:temp`;
  const ids = await addEntries(world.redis, stream, [value(1), value(2)]);
  {
    await using first = await source(world, "same-name");
    assert.deepEqual((await first.read(never)).map((d) => [d.id, d.deliveries]), ids.map((id) => [id, 1]));
    // "crash": never acked
  }
  const newer = await addEntries(world.redis, stream, [value(3)]);
  await using again = await source(world, "same-name");
  assert.deepEqual((await again.read(never)).map((d) => [d.id, d.deliveries]), ids.map((id) => [id, 2]));
  assert.deepEqual((await again.read(never)).map((d) => d.id), newer);
});

Deno.test("entries left idle by another consumer are claimed; consumers gone idle with nothing pending are removed", async () => {
  await using world = await createWorld();
  const stream = `${world.prefix}:dev:temp`;
  const ids = await addEntries(world.redis, stream, [value(1), value(2), value(3)]);
  {
    await using dead = await source(world, "dead-one");
    assert.equal((await dead.read(never)).length, 3);
  }
  await world.redis.xgroup("CREATECONSUMER", stream, world.group, "idle-empty");
  await waitFor(async () =>
    (await minPendingIdleMs(world.redis, stream, world.group)) > 1000 &&
    ((await consumerIdleMs(world.redis, stream, world.group, "idle-empty")) ?? 0) > 1000, {
    what: "the entries and the empty consumer idle for more than 1 s",
  });

  await using live = await source(world, "live-one", { claimMinIdleMs: 1000, consumerRemoveIdleMs: 1000 });
  const claimed = await live.read(never);
  assert.deepEqual(claimed.map((d) => [d.id, d.deliveries]), ids.map((id) => [id, 2]));
  const names = async () =>
    ((await world.redis.xinfo("CONSUMERS", stream, world.group)) as string[][]).map((c) => c[1]).sort();
  // dead-one still holds the entries (claimed, not yet acked, now by live-one): nothing is lost.
  assert.ok((await names()).includes("live-one"));
  await live.ack(claimed);
  assert.equal(await pendingCount(world.redis, stream, world.group), 0);

  // The next claim sweep (at most every claimMinIdleMs / 2) finds nothing and tidies up: both idle, empty
  // consumers go.
  await waitFor(async () => {
    await live.read(never);
    return (await names()).length === 1;
  }, { what: "the idle, empty consumers removed" });
  assert.deepEqual(await names(), ["live-one"]);
});

Deno.test("dead letters: each added with its entry's ack in one step; one already acked is reported as not added", async () => {
  await using world = await createWorld();
  const stream = `${world.prefix}:dev:temp`;
  const ids = await addEntries(world.redis, stream, [value(1), value(2), value(3)]);
  await world.redis.xgroup("CREATE", stream, world.group, "0");
  await world.redis.xreadgroup("GROUP", world.group, "me", "COUNT", 10, "STREAMS", stream, ">");
  await world.redis.xack(stream, world.group, ids[1]!); // another consumer got there first
  const writer = new DeadLetterWriter(world.redis, { stream: world.deadLetterStream, group: world.group, maxLen: 0 });
  const letters = ids.map((id, i) => ({
    entry: { stream, id, fields: value(i) },
    reason: `bad ${i}`,
    class: "other" as const,
  }));
  assert.deepEqual(await writer.send(letters), [true, false, true]);
  assert.deepEqual(await writer.send(letters), [false, false, false], "nothing is dead-lettered twice");
  const dead = await world.redis.xrange(world.deadLetterStream, "-", "+");
  assert.deepEqual(dead.map(([, f]) => f[f.indexOf("original_id") + 1]), [ids[0], ids[2]]);
  assert.equal(await pendingCount(world.redis, stream, world.group), 0);
});
