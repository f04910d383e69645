/**
 * Redis Cluster mode against a real three-master cluster started by the test
 * (see _helpers/cluster.ts): streams spread over every master, the service as
 * a subprocess with REDIS_CLUSTER_NODES. Every good entry becomes exactly one
 * row, the bad one a dead letter on the node that owns the dead-letter key,
 * nothing stays pending, and a stream created later on another master is
 * discovered. Also: dead letters across slots and the CLI commands, a master
 * killed and restarted, no node reachable, and the source's batch bound.
 */
import assert from "node:assert/strict";
import type { Cluster } from "ioredis";
import { createWorld, uniqueName } from "../_helpers/world.ts";
import { DATABASE_URL } from "../_helpers/services.ts";
import { message, runCli, spawnService, stopService } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { freePort } from "../_helpers/net.ts";
import { badFields, entryKey, goodFields, rowStats, storedKeys, tail } from "../_helpers/faults.ts";
import { type ClusterNodeInfo, clusterUnavailable, type LocalCluster, startLocalCluster } from "../_helpers/cluster.ts";
import { keySlot } from "../../src/source/slot.ts";
import { closeRedis, connectRedis, whenReady } from "../../src/source/redis.ts";
import { DeadLetterWriter } from "../../src/dead_letters/writer.ts";
import { StreamDiscovery } from "../../src/source/discovery.ts";
import { RedisSource } from "../../src/source/consumer.ts";
import { LagMonitor } from "../../src/ops/lag.ts";
import { loadConfig } from "../../src/config/load.ts";

/** A cluster has only database 0: the world's REDIS_URL (a test database of the shared server) is dropped. */
const CLUSTER_ONLY = { REDIS_URL: "" };

const unavailable = await clusterUnavailable();
const SETTLE_MS = 60_000;

/** Adds `fields` to `stream` through the cluster client; returns the ids. */
async function add(cluster: Cluster, stream: string, fields: readonly Record<string, string>[]): Promise<string[]> {
  const ids: string[] = [];
  for (const f of fields) ids.push(String(await cluster.xadd(stream, "*", ...Object.entries(f).flat())));
  return ids;
}

/** Pending entries of `group` over `streams` (a stream or group that does not exist counts as none). */
async function pendingTotal(cluster: Cluster, streams: readonly string[], group: string): Promise<number> {
  let sum = 0;
  for (const s of streams) {
    const noGroup = (err: Error) => (String(err.message).startsWith("NOGROUP") ? [0] : Promise.reject(err));
    const [count] = (await cluster.xpending(s, group).catch(noGroup)) as [number];
    sum += Number(count);
  }
  return sum;
}

/**
 * Sources of consumer `c1` in group `g` over `<prefix>:*` on the cluster, on
 * connections of their own (closed on dispose); `source(n)` reads batches of `n`.
 */
function clusterSources(cluster: LocalCluster, prefix: string) {
  const settings = loadConfig({ REDIS_CLUSTER_NODES: cluster.seeds }).redis;
  const cmd = connectRedis(settings, { name: "test-cmd" });
  const blocking = connectRedis(settings, { name: "test-read" });
  const log = { debug() {}, info() {}, warn() {}, error() {} };
  const discovery = new StreamDiscovery(cmd, { patterns: [`${prefix}:*`], group: "g", deadLetterStream: "x", log });
  return {
    source: (batchSize: number) =>
      new RedisSource(cmd, blocking, discovery, {
        group: "g",
        consumer: "c1",
        batchSize,
        blockMs: 50,
        claimMinIdleMs: 60_000,
        consumerRemoveIdleMs: 3_600_000,
        discoveryIntervalMs: 60_000,
        log,
      }),
    async [Symbol.asyncDispose]() {
      await Promise.all([closeRedis(cmd), closeRedis(blocking)]);
    },
  };
}

/** Stream keys `${prefix}:dev<n>:temperature`, `perNode` of them on each master, plus one more on `lateOn`. */
async function spreadStreams(
  cluster: LocalCluster,
  prefix: string,
  perNode: number,
): Promise<{ streams: string[]; late: string; byPort: Map<number, string[]> }> {
  const byPort = new Map<number, string[]>(cluster.nodes.map((n) => [n.port, []]));
  const lateOn = cluster.nodes[2]!.port;
  let late: string | undefined;
  for (let n = 0; n < 200; n++) {
    const key = `${prefix}:dev${n}:temperature`;
    const owner = await cluster.ownerOf(key);
    const list = byPort.get(owner.port)!;
    if (list.length < perNode) list.push(key);
    else if (owner.port === lateOn && late === undefined) late = key;
    if (late && [...byPort.values()].every((l) => l.length === perNode)) break;
  }
  assert.ok(late, "found no key for the late stream");
  return { streams: [...byPort.values()].flat(), late, byPort };
}

Deno.test({
  name: unavailable
    ? `Redis Cluster mode (skipped: ${unavailable})`
    : "Redis Cluster: streams on three masters, one row per entry, dead letter on its node, late stream discovered",
  ignore: unavailable !== undefined,
  fn: async () => {
    await using world = await createWorld();
    await using cluster = await startLocalCluster();
    const { streams, late, byPort } = await spreadStreams(cluster, world.prefix, 2);
    for (const [port, keys] of byPort) assert.equal(keys.length, 2, `two streams on the master at ${port}`);

    // Our slot function agrees with the server, hash tags included.
    for (const key of [...streams, late, world.deadLetterStream, "{dev7}:a", "x{}y"]) {
      assert.equal(keySlot(key), Number(await cluster.nodes[0]!.redis.cluster("KEYSLOT", key)), key);
    }

    const good = new Set<string>();
    for (const [i, stream] of streams.entries()) {
      const ids = await add(cluster.client, stream, Array.from({ length: 150 }, (_, j) => goodFields(i * 1000 + j)));
      for (const id of ids) good.add(entryKey(stream, id));
    }
    const [badId] = await add(cluster.client, streams[3]!, [badFields(0)]);
    const bad = entryKey(streams[3]!, badId!);

    // Entries left pending by an earlier run of this consumer (on two masters)
    // and by a consumer that is gone (on the third): re-read, and claimed.
    for (const s of streams) await cluster.client.xgroup("CREATE", s, world.group, "0");
    const takeAs = (consumer: string, stream: string) =>
      cluster.client.xreadgroup("GROUP", world.group, consumer, "COUNT", 10, "STREAMS", stream, ">");
    const [a, b, c] = cluster.nodes.map((n) => byPort.get(n.port)![0]!);
    await takeAs("cluster-worker", a!);
    await takeAs("cluster-worker", b!);
    await takeAs("gone", c!);
    assert.equal(await pendingTotal(cluster.client, streams, world.group), 30);

    await using svc = spawnService(
      ["run"],
      world.env({
        REDIS_URL: `redis://127.0.0.1:${cluster.nodes[0]!.port}/0`,
        // Two seeds only: the client learns the third master from the cluster.
        REDIS_CLUSTER_NODES: cluster.nodes.slice(0, 2).map((n) => `127.0.0.1:${n.port}`).join(","),
        BATCH_SIZE: "64",
        CONSUMER_NAME: "cluster-worker",
        CLAIM_MIN_IDLE_MS: "100",
        CONSUMER_REMOVE_IDLE_MS: "1000",
      }),
    );
    const settled = async (expectedRows: number, all: readonly string[]) => {
      try {
        await waitFor(async () =>
          (await rowStats(world)).distinct === expectedRows &&
          (await cluster.client.xlen(world.deadLetterStream)) === 1 &&
          (await pendingTotal(cluster.client, all, world.group)) === 0, {
          timeoutMs: SETTLE_MS,
          what: `${expectedRows} rows, one dead letter, nothing pending`,
        });
      } catch (err) {
        const pending = await Promise.all(
          all.map((s) => cluster.client.xpending(s, world.group).catch((e) => String(e))),
        );
        throw new Error(
          `${(err as Error).message}; rows ${JSON.stringify(await rowStats(world))}, pending ${
            JSON.stringify(pending)
          }\n${tail(svc)}`,
        );
      }
    };
    await settled(good.size, streams);
    // Lag and pending per stream (for /metrics) are read on each stream's own node.
    const lag = await new LagMonitor(cluster.client, {
      group: world.group,
      streams: () => streams,
      intervalMs: 1000,
      log: { debug() {}, info() {}, warn() {}, error() {} },
    }).refresh();
    assert.deepEqual(
      lag!.streams.map((s) => [s.stream, s.lag, s.pending]),
      [...streams].map((s) => [s, 0, 0]),
      "every stream's lag, from all three masters",
    );
    assert.ok(svc.records().some(message("re-reading own pending entries")), tail(svc));
    assert.ok(svc.records().some(message("claimed idle pending entries")), tail(svc));
    // The Lua removal of an idle, empty consumer runs on the node owning its stream.
    await svc.waitForLog((r) => r.message === "removed idle consumer" && r.consumer === "gone", SETTLE_MS);

    // A stream created on a master while the service runs is found and consumed.
    const lateIds = await add(cluster.client, late, Array.from({ length: 40 }, (_, j) => goodFields(90_000 + j)));
    for (const id of lateIds) good.add(entryKey(late, id));
    await svc.waitForLog(
      (r) => String(r.message).startsWith("consuming ") && (r.streams as string[] | undefined)?.includes(late) === true,
      SETTLE_MS,
    );
    await settled(good.size, [...streams, late]);

    const stored = await storedKeys(world);
    assert.deepEqual(await rowStats(world), { rows: good.size, distinct: good.size }, "one row per good entry");
    assert.deepEqual([...stored].filter((k) => !good.has(k)), [], "no row that was not written");
    assert.ok(!stored.has(bad), "the bad entry is not a row");

    // The dead letter sits on the node that owns the dead-letter key: read it there, with a plain connection.
    const owner: ClusterNodeInfo = await cluster.ownerOf(world.deadLetterStream);
    const letters = await owner.redis.xrange(world.deadLetterStream, "-", "+");
    assert.equal(letters.length, 1);
    const fields = Object.fromEntries(
      letters[0]![1].flatMap((v, i, a) => (i % 2 === 0 ? [[v, a[i + 1]!]] : [])),
    ) as Record<string, string>;
    assert.equal(entryKey(fields.original_stream!, fields.original_id!), bad);
    assert.match(fields.error!, /value/);

    assert.equal(await stopService(svc, 30_000), 0, tail(svc));
    const errors = svc.records().filter((r) => r.level === "ERROR");
    assert.deepEqual(errors, [], "no error was logged");
    assert.ok(svc.records().some(message("stopped")));
  },
});

Deno.test({
  name: unavailable
    ? `Redis Cluster dead letters (skipped: ${unavailable})`
    : "Redis Cluster dead letters (added on their node, then acked; not twice), dlq replay, health, simulate",
  ignore: unavailable !== undefined,
  fn: async () => {
    await using cluster = await startLocalCluster();
    const prefix = uniqueName("s");
    // A source stream and a dead-letter stream on different masters.
    const deadStream = `${prefix}_failed`;
    const deadOwner = await cluster.ownerOf(deadStream);
    let stream = "";
    for (let n = 0; stream === ""; n++) {
      if ((await cluster.ownerOf(`${prefix}:dev${n}:t`)).port !== deadOwner.port) stream = `${prefix}:dev${n}:t`;
    }
    const ids = await add(cluster.client, stream, [badFields(0), badFields(1), badFields(2)]);
    await cluster.client.xgroup("CREATE", stream, "g", "0");
    await cluster.client.xreadgroup("GROUP", "g", "me", "COUNT", 10, "STREAMS", stream, ">");
    await cluster.client.xack(stream, "g", ids[2]!); // another consumer got there first

    const redis = connectRedis({
      host: "127.0.0.1",
      port: cluster.nodes[0]!.port,
      db: 0,
      tls: false,
      cluster: cluster.nodes.map((n) => ({ host: "127.0.0.1", port: n.port })),
    }, { name: "dead-letter-test" });
    try {
      await whenReady(redis, 10_000);
      const writer = new DeadLetterWriter(redis, { stream: deadStream, group: "g", maxLen: 0, now: () => 1_000 });
      const letters = ids.map((id, i) => ({
        entry: { stream, id, fields: badFields(i) },
        reason: `bad ${i}`,
        class: "other" as const,
      }));
      assert.deepEqual(await writer.send(letters), [true, true, false], "the third was acked by another consumer");
      assert.deepEqual(await writer.send(letters.slice(0, 1)), [false], "an acked entry is not dead-lettered again");
      const orphan = {
        entry: { stream: `${prefix}:deleted`, id: "1-0", fields: badFields(0) },
        reason: "gone",
        class: "other" as const,
      };
      assert.deepEqual(
        await writer.send([orphan]),
        [false],
        "an entry of a deleted stream is not dead-lettered, and no error",
      );
      // The group deleted and re-created from 0: both entries read again, acked, not dead-lettered twice.
      await cluster.client.xgroup("DESTROY", stream, "g");
      await cluster.client.xgroup("CREATE", stream, "g", "0");
      await cluster.client.xreadgroup("GROUP", "g", "me", "COUNT", 10, "STREAMS", stream, ">");
      assert.deepEqual(await writer.send(letters.slice(0, 2)), [false, false], "marked: only acknowledged");
      await cluster.client.xack(stream, "g", ids[2]!);
      // A dead-letter key of the wrong type: the entry stays pending, the error names the key.
      const [wrongId] = await add(cluster.client, stream, [badFields(3)]);
      await cluster.client.xreadgroup("GROUP", "g", "me", "COUNT", 10, "STREAMS", stream, ">");
      const wrongKey = `${prefix}_string`;
      await cluster.client.set(wrongKey, "x");
      const wrong = new DeadLetterWriter(redis, { stream: wrongKey, group: "g", maxLen: 0 });
      await assert.rejects(
        wrong.send([{ entry: { stream, id: wrongId!, fields: badFields(3) }, reason: "bad", class: "other" }]),
        new RegExp(`"${wrongKey}": WRONGTYPE`),
      );
      assert.equal(await pendingTotal(cluster.client, [stream], "g"), 1, "left pending, not acked");
      await cluster.client.xack(stream, "g", wrongId!);
      await cluster.client.xdel(stream, wrongId!);

      const onNode = await deadOwner.redis.xrange(deadStream, "-", "+");
      assert.deepEqual(
        onNode.map(([, flat]) => [flat[flat.indexOf("original_id") + 1], flat[flat.indexOf("error") + 1]]),
        [[ids[0], "bad 0"], [ids[1], "bad 1"]],
      );
      assert.equal(await pendingTotal(cluster.client, [stream], "g"), 0);

      // The command line in cluster mode: replay puts the letters back on their stream (another node).
      const env = { REDIS_CLUSTER_NODES: cluster.seeds, DEAD_LETTER_STREAM: deadStream };
      const replay = await runCli(["dlq", "replay"], env);
      assert.equal(replay.code, 0, replay.stderr);
      assert.match(replay.stdout, /^replayed 2, skipped 0$/m);
      assert.equal(await deadOwner.redis.xlen(deadStream), 0);
      const back = await cluster.client.xrange(stream, "(" + ids[2]!, "+");
      assert.deepEqual(back.map(([, flat]) => flat), [badFields(0), badFields(1)].map((f) => Object.entries(f).flat()));

      // health pings the cluster; seeds where nothing listens are reported, not waited on forever.
      const healthEnv = { ...env, HTTP_PORT: "0", DATABASE_URL };
      const healthy = await runCli(["health"], healthEnv);
      assert.equal(healthy.code, 0, healthy.stdout + healthy.stderr);
      assert.equal(JSON.parse(healthy.stdout).redis, true);
      const nowhere = await runCli(["health"], { ...healthEnv, REDIS_CLUSTER_NODES: `127.0.0.1:${freePort()}` });
      assert.equal(nowhere.code, 1, nowhere.stdout + nowhere.stderr);
      assert.equal(JSON.parse(nowhere.stdout).redis, false);

      // simulate writes to streams on every master.
      const sim = await runCli(["simulate", "--count", "60", "--devices", "6", "--prefix", `${prefix}sim`], env);
      assert.equal(sim.code, 0, sim.stderr);
      let written = 0;
      const owners = new Set<number>();
      for (const node of cluster.nodes) {
        const [, keys] = await node.redis.scan("0", "MATCH", `${prefix}sim:*`, "COUNT", 10_000);
        for (const k of keys) written += await node.redis.xlen(k);
        if (keys.length > 0) owners.add(node.port);
      }
      assert.equal(written, 60);
      assert.equal(owners.size, 3, "streams on all three masters");
    } finally {
      await closeRedis(redis);
    }
  },
});

Deno.test("Redis Cluster unreachable: one outage line, no error per retry, SIGTERM still exits 0", async () => {
  await using world = await createWorld();
  // A "node" that hangs up on every connection: each reconnect round of the service is one accepted connection.
  const node = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let attempts = 0;
  const accepting = (async () => {
    for await (const conn of node) {
      attempts++;
      conn.close();
    }
  })().catch(() => {});
  try {
    await using svc = spawnService(
      ["run"],
      world.env({ ...CLUSTER_ONLY, REDIS_CLUSTER_NODES: `127.0.0.1:${node.addr.port}` }),
    );
    await svc.waitForLog(message("redis unavailable; retrying until it is back"), SETTLE_MS);
    await svc.waitForLog(message("consuming"), SETTLE_MS);
    // Several reconnect rounds (50 ms, doubling, at most 2 s apart) pass while the service waits.
    const seen = attempts;
    await waitFor(() => attempts >= seen + 3, { timeoutMs: SETTLE_MS, what: "three more reconnect rounds" });
    assert.equal(await stopService(svc, 30_000), 0, tail(svc));
    assert.deepEqual(
      svc.records().filter((r) => r.level === "ERROR").map((r) => r.message),
      ["redis unavailable; retrying until it is back"],
      tail(svc),
    );
  } finally {
    node.close();
    await accepting;
  }
});

Deno.test({
  name: unavailable
    ? `Redis Cluster master restart (skipped: ${unavailable})`
    : "Redis Cluster master killed and restarted empty: the others keep flowing, no dead letters, every entry one row",
  ignore: unavailable !== undefined,
  fn: async () => {
    await using world = await createWorld();
    await using cluster = await startLocalCluster();
    const { byPort } = await spreadStreams(cluster, world.prefix, 1);
    const [s0, s1, s2] = cluster.nodes.map((n) => byPort.get(n.port)![0]!) as [string, string, string];
    const good = new Set<string>();
    const produce = async (stream: string, from: number, n: number) => {
      const ids = await add(cluster.client, stream, Array.from({ length: n }, (_, j) => goodFields(from + j)));
      for (const id of ids) good.add(entryKey(stream, id));
    };
    for (const [i, s] of [s0, s1, s2].entries()) await produce(s, i * 1000, 100);

    await using svc = spawnService(
      ["run"],
      world.env({
        ...CLUSTER_ONLY,
        REDIS_CLUSTER_NODES: cluster.seeds,
        BATCH_SIZE: "50",
        RETRY_MAX_MS: "500",
        CONSUMER_NAME: "cluster-worker",
      }),
    );
    const settled = async (all: readonly string[]) => {
      try {
        await waitFor(async () =>
          (await rowStats(world)).distinct === good.size &&
          (await pendingTotal(cluster.client, all, world.group)) === 0, {
          timeoutMs: SETTLE_MS,
          what: `${good.size} rows and nothing pending`,
        });
      } catch (err) {
        throw new Error(`${(err as Error).message}; rows ${JSON.stringify(await rowStats(world))}\n${tail(svc)}`);
      }
    };
    await settled([s0, s1, s2]);

    // The master of s2 dies: entries on the other masters keep flowing meanwhile
    // (reads naming s2 fail until the scan no longer finds it).
    await cluster.kill(2);
    await produce(s0, 5000, 100);
    await produce(s1, 6000, 100);
    await settled([s0, s1]);
    // It comes back empty (no persistence): s2 and its group are gone; new entries there are consumed too.
    await cluster.restart(2);
    await produce(s2, 7000, 100);
    await settled([s0, s1, s2]);

    assert.deepEqual(await rowStats(world), { rows: good.size, distinct: good.size });
    const stored = await storedKeys(world);
    assert.deepEqual([...good].filter((k) => !stored.has(k)), []);
    assert.equal(await cluster.client.exists(world.deadLetterStream), 0, "an outage dead-letters nothing");
    assert.equal(await stopService(svc, 30_000), 0, tail(svc));
    const errors = svc.records().filter((r) => r.level === "ERROR").map((r) => r.message);
    assert.ok(errors.every((m) => m === "redis unavailable; retrying until it is back"), tail(svc));
  },
});

Deno.test({
  name: unavailable
    ? `Redis Cluster source batch bound (skipped: ${unavailable})`
    : "Redis Cluster source: reads stay within BATCH_SIZE over 30 streams on 3 masters (some sharing a slot), each entry once",
  ignore: unavailable !== undefined,
  fn: async () => {
    await using cluster = await startLocalCluster();
    const prefix = uniqueName("s");
    // 20 streams spread by their own keys, 10 sharing one hash tag (one slot, one XREADGROUP).
    const streams = [
      ...Array.from({ length: 20 }, (_, i) => `${prefix}:d${i}:t`),
      ...Array.from({ length: 10 }, (_, i) => `${prefix}:{site}:d${i}:t`),
    ];
    const written = new Set<string>();
    for (const s of streams) {
      for (const id of await add(cluster.client, s, [goodFields(1), goodFields(2), goodFields(3)])) {
        written.add(entryKey(s, id));
      }
    }
    const owners = new Set(await Promise.all(streams.map(async (s) => (await cluster.ownerOf(s)).port)));
    assert.equal(owners.size, 3, "streams on every master");

    await using sources = clusterSources(cluster, prefix);
    const src = sources.source(7);
    const seen: string[] = [];
    const never = new AbortController().signal;
    for (let i = 0; i < 100 && seen.length < written.size; i++) {
      const batch = await src.read(never);
      assert.ok(batch.length <= 7, `batch of ${batch.length}`);
      for (const d of batch) seen.push(entryKey(d.stream, d.id));
      await src.ack(batch);
    }
    assert.equal(seen.length, written.size, "each entry delivered once");
    assert.deepEqual(new Set(seen), written);
    assert.deepEqual(await src.read(never), [], "nothing left; an empty read returns after the block time");
    assert.equal(await pendingTotal(cluster.client, streams, "g"), 0);

    // A stream deleted under the reader fails its slot's read (NOGROUP) while
    // another slot's read in the same round delivers entries: those come back
    // from this consumer's pending list on the next reads, not after a claim.
    const kept = streams[0]!;
    const keptOwner = (await cluster.ownerOf(kept)).port;
    let deleted = "";
    for (const s of streams) if (!deleted && (await cluster.ownerOf(s)).port !== keptOwner) deleted = s;
    const wide = sources.source(100); // every stream in one round
    assert.deepEqual(await wide.read(never), []);
    const fresh = new Set(
      (await add(cluster.client, kept, [goodFields(7), goodFields(8)])).map((id) => entryKey(kept, id)),
    );
    await cluster.client.del(deleted);
    const again = new Set<string>();
    for (let i = 0; i < 20 && again.size < fresh.size; i++) {
      const batch = await wide.read(never);
      for (const d of batch) again.add(entryKey(d.stream, d.id));
      await wide.ack(batch);
    }
    assert.deepEqual(again, fresh);
    assert.equal(await pendingTotal(cluster.client, [kept], "g"), 0);
  },
});

Deno.test({
  name: unavailable
    ? `Redis Cluster backlog window (skipped: ${unavailable})`
    : "Redis Cluster source: a backlog is read in windows of 2 streams × 50 (BATCH_SIZE 100), over the masters, each entry once",
  ignore: unavailable !== undefined,
  fn: async () => {
    await using cluster = await startLocalCluster();
    const prefix = uniqueName("s");
    const streams = Array.from({ length: 6 }, (_, i) => `${prefix}:d${i}:t`);
    const written = new Set<string>();
    for (const s of streams) {
      const ids = await add(cluster.client, s, Array.from({ length: 120 }, (_, j) => goodFields(j)));
      for (const id of ids) written.add(entryKey(s, id));
    }
    await using sources = clusterSources(cluster, prefix);
    const src = sources.source(100);
    const seen: string[] = [];
    const streamsPerRead: number[] = [];
    const never = new AbortController().signal;
    for (let i = 0; i < 100 && seen.length < written.size; i++) {
      const batch = await src.read(never);
      assert.ok(batch.length <= 100, `batch of ${batch.length}`);
      streamsPerRead.push(new Set(batch.map((d) => d.stream)).size);
      for (const d of batch) seen.push(entryKey(d.stream, d.id));
      await src.ack(batch);
    }
    assert.equal(seen.length, written.size, "each entry delivered once");
    assert.deepEqual(new Set(seen), written);
    // First a read over every stream (16 each), then windows of 2 streams.
    assert.equal(streamsPerRead[0], 6);
    assert.deepEqual(streamsPerRead.slice(1, 5), [2, 2, 2, 2]);
    assert.equal(await pendingTotal(cluster.client, streams, "g"), 0);
  },
});
