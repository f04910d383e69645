/**
 * End-to-end tests of the pipeline: the real service as a subprocess, real
 * Redis and PostgreSQL, one isolated world per test (own schema, stream
 * prefix, consumer group and dead-letter stream). Every test stops the
 * service with a signal and checks how it exited.
 */
import assert from "node:assert/strict";
import { addEntries, groupsOf, lastDeliveredId, pendingCount, pendingIds, streamEntries } from "../_helpers/streams.ts";
import { createWorld, type World } from "../_helpers/world.ts";
import { exitWithin, logsWith, message, type ServiceProcess, spawnService, stopService } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { type Row, rowCounts, tableRows } from "../_helpers/rows.ts";

const START_MS = 30_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the service has its schema and has entered the consume loop. */
async function started(svc: ServiceProcess): Promise<void> {
  await svc.waitForLog(message("consuming"), START_MS);
}

/** Waits until the table holds `n` rows. */
async function rowsReach(world: World, n: number, timeoutMs = 20_000): Promise<void> {
  await waitFor(async () => (await rowCounts(world)).rows >= n, {
    timeoutMs: timeoutMs,
    what: `${n} rows in ${world.table}`,
  });
}

/** Stops with SIGTERM and asserts a clean exit. */
async function stopCleanly(svc: ServiceProcess): Promise<void> {
  const code = await stopService(svc, 15_000);
  assert.equal(code, 0, `exit code after SIGTERM; stderr:\n${svc.errLines.join("\n")}`);
}

/** The "final stats" record the service logs on exit. */
function finalStats(svc: ServiceProcess): Record<string, unknown> {
  const all = logsWith(svc, "final stats");
  assert.equal(all.length, 1, "exactly one final stats line");
  return all[0]!;
}

const byId = (rows: Row[]) => new Map(rows.map((r) => [`${r.source_stream} ${r.source_id}`, r]));

Deno.test("per-sensor streams: exact device, sensor type (with ':'), value, metadata, source and UTC instant", async () => {
  await using world = await createWorld();
  await using svc = spawnService(["run"], world.env());
  await started(svc);

  // Written while running: new streams are discovered without a restart.
  const temp = `${world.prefix}:esp32:temperature`;
  const env = `${world.prefix}:dev1:env:temp`;
  const tempIds = await addEntries(world.redis, temp, [
    {
      value: "23.5",
      timestamp: "2026-11-28T10:00:00.123456",
      metadata: JSON.stringify({ room: "lab", floor: 2, tags: ["a", "b"], calibrated: true }),
    },
    { value: "-1.25e2", timestamp: "2026-11-28T10:00:00+02:00" },
    { value: "0.1", time: "2026-11-28T11:30:00.5Z" },
    { value: "1e-7", timestamp: "2026-12-31T23:59:59.999999-05:30" },
  ]);
  const envIds = await addEntries(world.redis, env, [
    { value: "19", timestamp: "2026-11-28T10:00:00Z", metadata: "{}" },
  ]);
  await rowsReach(world, 5);
  await waitFor(async () => (await pendingCount(world.redis, temp, world.group)) === 0, {
    timeoutMs: 10_000,
    what: "all acked",
  });
  await stopCleanly(svc);

  const rows = await tableRows(world);
  assert.equal(rows.length, 5);
  const got = byId(rows);
  const expect = (stream: string, id: string, want: Omit<Row, "id" | "source_stream" | "source_id">) => {
    const row = got.get(`${stream} ${id}`);
    assert.ok(row, `a row for ${stream} ${id}`);
    assert.deepEqual({ ...row, id: 0 }, { id: 0, ...want, source_stream: stream, source_id: id });
  };
  expect(temp, tempIds[0]!, {
    utc: "2026-11-28T10:00:00.123456",
    device_id: "esp32",
    sensor_type: "temperature",
    value: 23.5,
    metadata: { room: "lab", floor: 2, tags: ["a", "b"], calibrated: true },
  });
  expect(temp, tempIds[1]!, {
    utc: "2026-11-28T08:00:00.000000",
    device_id: "esp32",
    sensor_type: "temperature",
    value: -125,
    metadata: null,
  });
  expect(temp, tempIds[2]!, {
    utc: "2026-11-28T11:30:00.500000",
    device_id: "esp32",
    sensor_type: "temperature",
    value: 0.1,
    metadata: null,
  });
  expect(temp, tempIds[3]!, {
    utc: "2027-01-01T05:29:59.999999",
    device_id: "esp32",
    sensor_type: "temperature",
    value: 1e-7,
    metadata: null,
  });
  expect(env, envIds[0]!, {
    utc: "2026-11-28T10:00:00.000000",
    device_id: "dev1",
    sensor_type: "env:temp",
    value: 19,
    metadata: {},
  });
  assert.equal(await world.redis.xlen(world.deadLetterStream), 0, "nothing dead-lettered");
  assert.equal(await pendingCount(world.redis, env, world.group), 0);
});

Deno.test("shared stream shape, unit stored in metadata, and an exact key in a comma list of patterns", async () => {
  await using world = await createWorld();
  const ingestion = `${world.prefix}:ingestion`;
  const shared = `${world.prefix}_shared`;
  const perSensor = `${world.prefix}:esp32:temperature`;
  await using svc = spawnService(["run"], world.env({ STREAM_PATTERN: `${world.prefix}:*, ${shared}` }));
  await started(svc);

  const ingIds = await addEntries(world.redis, ingestion, [
    {
      device_id: "esp32-01",
      metric: "humidity",
      value: "55.5",
      timestamp: "2026-11-28T10:00:00.123456",
      unit: "%",
      metadata: JSON.stringify({ qos: 1 }),
    },
    { device_id: "esp32-02", sensor_type: "co2", value: "415", timestamp: "2026-11-28T10:00:01", unit: "ppm" },
    { device_id: "esp32-03", metric: "pressure", value: "1013.25", timestamp: "2026-11-28T10:00:02" },
  ]);
  const sharedIds = await addEntries(world.redis, shared, [
    { device_id: "gw-7", metric: "voltage", value: "3.3", timestamp: "2026-11-28T10:00:03+01:00", unit: "V" },
  ]);
  // Fields in the message win over what the key says.
  const overrideIds = await addEntries(world.redis, perSensor, [
    { device_id: "esp32-override", sensor_type: "temp:probe2", value: "21", timestamp: "2026-11-28T10:00:04Z" },
  ]);
  await rowsReach(world, 5);
  await waitFor(async () => (await pendingCount(world.redis, shared, world.group)) === 0, {
    timeoutMs: 10_000,
    what: "all acked",
  });
  await stopCleanly(svc);

  const rows = await tableRows(world);
  assert.equal(rows.length, 5);
  const got = byId(rows);
  const pick = (stream: string, id: string) => {
    const r = got.get(`${stream} ${id}`);
    assert.ok(r, `a row for ${stream} ${id}`);
    const { id: _id, ...rest } = r;
    return rest;
  };
  assert.deepEqual(pick(ingestion, ingIds[0]!), {
    utc: "2026-11-28T10:00:00.123456",
    device_id: "esp32-01",
    sensor_type: "humidity",
    value: 55.5,
    metadata: { qos: 1, unit: "%" },
    source_stream: ingestion,
    source_id: ingIds[0]!,
  });
  assert.deepEqual(pick(ingestion, ingIds[1]!), {
    utc: "2026-11-28T10:00:01.000000",
    device_id: "esp32-02",
    sensor_type: "co2",
    value: 415,
    metadata: { unit: "ppm" },
    source_stream: ingestion,
    source_id: ingIds[1]!,
  });
  assert.deepEqual(pick(ingestion, ingIds[2]!), {
    utc: "2026-11-28T10:00:02.000000",
    device_id: "esp32-03",
    sensor_type: "pressure",
    value: 1013.25,
    metadata: null,
    source_stream: ingestion,
    source_id: ingIds[2]!,
  });
  assert.deepEqual(pick(shared, sharedIds[0]!), {
    utc: "2026-11-28T09:00:03.000000",
    device_id: "gw-7",
    sensor_type: "voltage",
    value: 3.3,
    metadata: { unit: "V" },
    source_stream: shared,
    source_id: sharedIds[0]!,
  });
  assert.deepEqual(pick(perSensor, overrideIds[0]!), {
    utc: "2026-11-28T10:00:04.000000",
    device_id: "esp32-override",
    sensor_type: "temp:probe2",
    value: 21,
    metadata: null,
    source_stream: perSensor,
    source_id: overrideIds[0]!,
  });
  assert.equal(await world.redis.xlen(world.deadLetterStream), 0, "nothing dead-lettered");
});

Deno.test("bad messages in a batch of good ones: only they are dead-lettered, with reason and every original field", async () => {
  await using world = await createWorld();
  const stream = `${world.prefix}:esp32:temperature`;
  const good = (i: number) => ({ value: String(20 + i), timestamp: `2026-11-28T10:00:0${i}Z` });
  const badValue = {
    value: "12,5",
    timestamp: "2026-11-28T10:00:00Z",
    metadata: JSON.stringify({ room: "lab" }),
    note: "keep me",
  };
  const badTime = { value: "7", timestamp: "yesterday at noon", unit: "C" };
  // Written before the start, so they arrive together in one batch.
  const ids = await addEntries(world.redis, stream, [good(0), good(1), badValue, good(2), good(3), badTime, good(4)]);
  const goodIds = [ids[0]!, ids[1]!, ids[3]!, ids[4]!, ids[6]!];

  await using svc = spawnService(["run"], world.env());
  await started(svc);
  await rowsReach(world, 5);
  await waitFor(async () => (await world.redis.xlen(world.deadLetterStream)) >= 2, {
    timeoutMs: 10_000,
    what: "two dead letters",
  });
  await waitFor(async () => (await pendingCount(world.redis, stream, world.group)) === 0, {
    timeoutMs: 10_000,
    what: "nothing pending",
  });
  const now = Date.now() / 1000;
  await stopCleanly(svc);

  const rows = await tableRows(world);
  assert.deepEqual(rows.map((r) => r.source_id), goodIds);
  assert.deepEqual(rows.map((r) => r.value), [20, 21, 22, 23, 24]);

  const dead = await streamEntries(world.redis, world.deadLetterStream);
  assert.equal(dead.length, 2, "exactly the two bad entries are dead-lettered");
  const [first, second] = dead.sort((a, b) => a.fields.original_id!.localeCompare(b.fields.original_id!));
  for (const [letter, id] of [[first!, ids[2]!], [second!, ids[5]!]] as const) {
    assert.equal(letter.fields.original_stream, stream);
    assert.equal(letter.fields.original_id, id);
    assert.equal(letter.fields.device_id, "esp32");
    assert.equal(letter.fields.sensor_type, "temperature");
    const failedAt = Number(letter.fields.failed_at);
    assert.ok(Number.isFinite(failedAt), `failed_at is unix seconds, got ${letter.fields.failed_at}`);
    assert.ok(Math.abs(failedAt - now) < 60, `failed_at ${failedAt} is close to now (${now})`);
  }
  assert.equal(first!.fields.value, "12,5");
  assert.match(first!.fields.error!, /not a finite decimal number/);
  assert.match(first!.fields.error!, /12,5/);
  assert.equal(first!.fields.timestamp, badValue.timestamp);
  assert.equal(first!.fields.metadata, badValue.metadata);
  assert.equal(first!.fields.note, "keep me");

  assert.equal(second!.fields.value, "7");
  assert.match(second!.fields.error!, /timestamp/);
  assert.match(second!.fields.error!, /yesterday at noon/);
  assert.equal(second!.fields.timestamp, "yesterday at noon");
  assert.equal(second!.fields.unit, "C");

  assert.equal(await pendingCount(world.redis, stream, world.group), 0);
  const stats = finalStats(svc);
  assert.equal(stats.messages_read, 7);
  assert.equal(stats.messages_written, 5);
  assert.equal(stats.messages_failed, 2);
});

Deno.test("the dead-letter stream is never consumed, even when STREAM_PATTERN matches it", async () => {
  await using world = await createWorld();
  const failed = `${world.prefix}:failed`;
  // Entries that would make perfectly good rows if they were consumed.
  const preIds = await addEntries(world.redis, failed, [
    { device_id: "old", sensor_type: "temp", value: "1", timestamp: "2026-11-28T10:00:00Z", error: "earlier" },
    { device_id: "old", sensor_type: "temp", value: "2", timestamp: "2026-11-28T10:00:01Z", error: "earlier" },
    { device_id: "old", sensor_type: "temp", value: "3", timestamp: "2026-11-28T10:00:02Z", error: "earlier" },
  ]);
  const stream = `${world.prefix}:esp32:temperature`;
  await using svc = spawnService(["run"], world.env({ DEAD_LETTER_STREAM: failed }));
  await started(svc);
  const ids = await addEntries(world.redis, stream, [
    { value: "10", timestamp: "2026-11-28T10:00:00Z" },
    { value: "not a number", timestamp: "2026-11-28T10:00:00Z" },
  ]);
  await rowsReach(world, 1);
  await waitFor(async () => (await world.redis.xlen(failed)) === 4, { timeoutMs: 10_000, what: "the new dead letter" });
  // Give discovery several chances to pick the dead-letter stream up: a stream created now is only
  // consumed after a discovery round has seen it, so each probe row proves one more round.
  for (const n of [1, 2, 3]) {
    await addEntries(world.redis, `${world.prefix}:probe${n}:temperature`, [{
      value: String(n),
      timestamp: "2026-11-28T10:00:00Z",
    }]);
    await rowsReach(world, 1 + n);
  }
  await stopCleanly(svc);

  const dead = await streamEntries(world.redis, failed);
  assert.deepEqual(dead.slice(0, 3).map((e) => e.id), preIds, "the earlier entries are untouched");
  assert.equal(dead.length, 4);
  assert.equal(dead[3]!.fields.original_id, ids[1]);
  const groups = await groupsOf(world.redis, failed);
  assert.ok(
    typeof groups === "string" || groups.length === 0,
    `no consumer group on ${failed}: ${JSON.stringify(groups)}`,
  );
  const rows = await tableRows(world, `source_stream NOT LIKE '${world.prefix}:probe%'`);
  assert.deepEqual(rows.map((r) => [r.source_stream, r.source_id]), [[stream, ids[0]!]]);
  assert.equal((await tableRows(world, `source_stream = '${failed}'`)).length, 0);
});

Deno.test("messages written before the first start (before the group exists) are consumed", async () => {
  await using world = await createWorld();
  const a = `${world.prefix}:esp32:temperature`;
  const b = `${world.prefix}:esp8266:humidity`;
  const aIds = await addEntries(world.redis, a, [
    { value: "1", timestamp: "2026-11-28T10:00:00Z" },
    { value: "2", timestamp: "2026-11-28T10:00:01Z" },
  ]);
  const bIds = await addEntries(world.redis, b, [{ value: "3", timestamp: "2026-11-28T10:00:02Z" }]);
  assert.deepEqual(await groupsOf(world.redis, a), [], "no group yet");

  await using svc = spawnService(["run"], world.env());
  await started(svc);
  await rowsReach(world, 3);
  await waitFor(async () => (await pendingCount(world.redis, a, world.group)) === 0, {
    timeoutMs: 10_000,
    what: "acked",
  });
  await stopCleanly(svc);

  const rows = await tableRows(world);
  assert.deepEqual(
    rows.map((r) => [r.source_stream, r.source_id, r.value]).sort(),
    [[a, aIds[0]!, 1], [a, aIds[1]!, 2], [b, bIds[0]!, 3]].sort(),
  );
  assert.equal(await pendingCount(world.redis, b, world.group), 0);
});

Deno.test("redelivery of stored entries (group reset to 0) never duplicates a row", async () => {
  await using world = await createWorld();
  const streams = [`${world.prefix}:esp32:temperature`, `${world.prefix}:dev2:env:humidity`];
  const ids: string[][] = [];
  for (const s of streams) {
    ids.push(
      await addEntries(
        world.redis,
        s,
        Array.from({ length: 5 }, (_, i) => ({ value: String(i), timestamp: `2026-11-28T10:00:0${i}.25Z` })),
      ),
    );
  }
  {
    await using svc = spawnService(["run"], world.env());
    await started(svc);
    await rowsReach(world, 10);
    for (const s of streams) {
      await waitFor(async () => (await pendingCount(world.redis, s, world.group)) === 0, {
        timeoutMs: 10_000,
        what: "acked",
      });
    }
    await stopCleanly(svc);
  }
  const before = await tableRows(world);
  assert.equal(before.length, 10);

  for (const s of streams) await world.redis.xgroup("SETID", s, world.group, "0");
  {
    await using svc = spawnService(["run"], world.env());
    await started(svc);
    // Done when the group has delivered every entry again and nothing is pending.
    for (const [i, s] of streams.entries()) {
      const last = ids[i]![ids[i]!.length - 1]!;
      await waitFor(async () =>
        (await lastDeliveredId(world.redis, s, world.group)) === last &&
        (await pendingCount(world.redis, s, world.group)) === 0, {
        timeoutMs: 20_000,
        what: `${s} redelivered and acked`,
      });
    }
    await stopCleanly(svc);
    const stats = finalStats(svc);
    assert.equal(stats.messages_read, 10);
    assert.equal(stats.messages_written, 0);
    assert.equal(stats.duplicates_skipped, 10);
    assert.equal(stats.messages_failed, 0);
  }
  const after = await tableRows(world);
  assert.deepEqual(after, before, "the table is unchanged");
  assert.deepEqual(await rowCounts(world), { rows: 10, distinct: 10 });
  assert.equal(await world.redis.xlen(world.deadLetterStream), 0);
});

Deno.test("BATCH_SIZE bounds every batch, even with more streams than BATCH_SIZE", async () => {
  await using world = await createWorld();
  const streamCount = 120, perStream = 3, batchSize = 20;
  const streams = Array.from({ length: streamCount }, (_, i) => `${world.prefix}:dev${i}:temperature`);
  const pipe = world.redis.pipeline();
  for (const s of streams) {
    for (let i = 0; i < perStream; i++) pipe.xadd(s, "*", "value", String(i), "timestamp", "2026-11-28T10:00:00Z");
  }
  await pipe.exec();
  const total = streamCount * perStream;

  await using svc = spawnService(["run"], world.env({ BATCH_SIZE: String(batchSize), LOG_LEVEL: "debug" }));
  await started(svc);
  await rowsReach(world, total, 60_000);
  await waitFor(() => logsWith(svc, "batch stored").reduce((n, r) => n + Number(r.entries), 0) >= total, {
    timeoutMs: 10_000,
    what: "every batch logged",
  });
  await stopCleanly(svc);

  const sizes = logsWith(svc, "batch stored").map((r) => Number(r.entries));
  assert.equal(sizes.reduce((a, b) => a + b, 0), total);
  const tooBig = sizes.filter((n) => n > batchSize);
  assert.deepEqual(tooBig, [], `batches larger than BATCH_SIZE=${batchSize}: ${JSON.stringify(tooBig)}`);
  assert.deepEqual(await rowCounts(world), { rows: total, distinct: total });
});

// ---------------------------------------------------------------------------
// Shutdown

const LOAD_STREAMS = 4;
const LOAD_PER_STREAM = 5000;

/** Pre-fills `LOAD_STREAMS` streams with `LOAD_PER_STREAM` good entries each. */
async function fillLoad(world: World): Promise<string[]> {
  const streams = Array.from({ length: LOAD_STREAMS }, (_, i) => `${world.prefix}:dev${i}:temperature`);
  for (const s of streams) {
    for (let chunk = 0; chunk < LOAD_PER_STREAM / 1000; chunk++) {
      await addEntries(
        world.redis,
        s,
        Array.from({ length: 1000 }, (_, i) => ({
          value: String(chunk * 1000 + i),
          timestamp: "2026-11-28T10:00:00.000001Z",
        })),
      );
    }
  }
  return streams;
}

/**
 * After a clean stop: every entry the group delivered is a row or still
 * pending, no row is duplicated, rows come only from delivered entries, and
 * (the exit was clean, so the batch in hand was finished) nothing is pending.
 * Returns the number of entries delivered.
 */
async function assertDrained(world: World, streams: readonly string[], svc: ServiceProcess): Promise<number> {
  const counts = await rowCounts(world);
  assert.equal(counts.rows, counts.distinct, "no row is duplicated");
  let delivered = 0, pendingTotal = 0;
  for (const s of streams) {
    const last = await lastDeliveredId(world.redis, s, world.group);
    assert.ok(last !== undefined, `the group exists on ${s}`);
    const deliveredIds = last === "0-0" ? [] : (await streamEntries(world.redis, s, "-", last)).map((e) => e.id);
    const pending = new Set(await pendingIds(world.redis, s, world.group));
    const stored = new Set((await tableRows(world, `source_stream = '${s}'`)).map((r) => r.source_id!));
    const lost = deliveredIds.filter((id) => !stored.has(id) && !pending.has(id));
    assert.deepEqual(lost.slice(0, 10), [], `${s}: ${lost.length} delivered entries neither stored nor pending`);
    const delivSet = new Set(deliveredIds);
    const phantom = [...stored].filter((id) => !delivSet.has(id));
    assert.deepEqual(phantom.slice(0, 10), [], `${s}: rows for entries never delivered`);
    delivered += deliveredIds.length;
    pendingTotal += pending.size;
  }
  assert.equal(pendingTotal, 0, "a clean exit (0) finished every batch read: nothing left pending");
  const stats = finalStats(svc);
  assert.equal(stats.messages_read, delivered, "final stats: messages_read = entries delivered");
  assert.equal(stats.messages_written, counts.rows, "final stats: messages_written = rows");
  return delivered;
}

Deno.test("SIGTERM under load: drains the batch in hand, exits 0, nothing lost or duplicated", async () => {
  await using world = await createWorld();
  const streams = await fillLoad(world);
  const total = LOAD_STREAMS * LOAD_PER_STREAM;
  await using svc = spawnService(["run"], world.env({ BATCH_SIZE: "500" }));
  await waitFor(async () => (await rowCounts(world)).rows > 0, { timeoutMs: START_MS, what: "the first rows" });
  svc.kill("SIGTERM");
  const status = await exitWithin(svc, 15_000);
  assert.equal(status.code, 0, `exit code; stderr:\n${svc.errLines.join("\n")}`);
  assert.equal(logsWith(svc, "shutting down: finishing the batch in hand").length, 1);
  const delivered = await assertDrained(world, streams, svc);
  assert.ok(delivered < total, `stopped before the end of the backlog (${delivered} of ${total} delivered)`);
  assert.ok(delivered > 0);
});

Deno.test("two SIGINTs arriving together count as one: clean drain, exit 0", async () => {
  await using world = await createWorld();
  const streams = await fillLoad(world);
  await using svc = spawnService(["run"], world.env({ BATCH_SIZE: "500" }));
  await waitFor(async () => (await rowCounts(world)).rows > 0, { timeoutMs: START_MS, what: "the first rows" });
  svc.kill("SIGINT");
  svc.kill("SIGINT");
  const status = await exitWithin(svc, 15_000);
  assert.equal(status.code, 0, `exit code; stdout:\n${svc.lines.slice(-10).join("\n")}`);
  assert.equal(logsWith(svc, "shutting down: finishing the batch in hand").length, 1);
  assert.equal(logsWith(svc, "second signal: exiting now; unfinished entries stay pending").length, 0);
  await assertDrained(world, streams, svc);
});

Deno.test("SIGTERM while PostgreSQL refuses connections during start-up migration: exits 0 at once", async (t) => {
  // The first signal alone ends the retries: there is no batch in hand to finish, so the exit must come
  // well within SHUTDOWN_TIMEOUT_SEC. Three rounds, because the moment the signal lands varies.
  for (const round of [1, 2, 3]) {
    await t.step(`round ${round}`, async () => {
      await using world = await createWorld();
      await using svc = spawnService(
        ["run"],
        world.env({
          DATABASE_URL: "postgres://postgres@127.0.0.1:1/test",
          MIGRATE_ON_START: "true",
          SHUTDOWN_TIMEOUT_SEC: "1",
        }),
      );
      await svc.waitForLog(message("postgres unavailable; retrying until it is back"), START_MS);
      svc.kill("SIGTERM");
      const status = await exitWithin(svc, 15_000);
      // Exit 0, not 1: the retries ended on the signal, not on the shutdown deadline.
      assert.equal(status.code, 0);
      assert.equal(logsWith(svc, "consuming").length, 0, "never started consuming");
      assert.equal(svc.records().filter((r) => /shutdown deadline passed/.test(String(r.message))).length, 0);
    });
  }
});

/**
 * Holds an ACCESS EXCLUSIVE lock on the world's table (so every INSERT of the
 * service blocks) until the returned function is called.
 */
async function lockTable(world: World): Promise<() => Promise<void>> {
  const conn = await world.sql.reserve();
  await conn`BEGIN`;
  await conn.unsafe(`LOCK TABLE ${world.table} IN ACCESS EXCLUSIVE MODE`);
  return async () => {
    await conn`ROLLBACK`.catch(() => {});
    conn.release();
  };
}

Deno.test("a second SIGTERM more than a second after the first exits at once with 130, entries stay pending", async () => {
  await using world = await createWorld();
  const stream = `${world.prefix}:esp32:temperature`;
  let ids: string[] = [];
  {
    await using svc = spawnService(["run"], world.env({ SHUTDOWN_TIMEOUT_SEC: "60" }));
    await started(svc);
    const unlock = await lockTable(world);
    try {
      ids = await addEntries(
        world.redis,
        stream,
        Array.from({ length: 10 }, (_, i) => ({ value: String(i), timestamp: "2026-11-28T10:00:00Z" })),
      );
      // The batch is read and its INSERT is stuck behind the lock: a long drain.
      await waitFor(async () => (await pendingCount(world.redis, stream, world.group)) === 10, {
        timeoutMs: 10_000,
        what: "10 pending",
      });
      svc.kill("SIGTERM");
      await svc.waitForLog(message("shutting down: finishing the batch in hand"));
      // A second signal within a second of the first counts as the same one (a terminal sends both to the
      // process group): this gap is the scenario, not a wait for a state.
      await sleep(1500);
      assert.equal(await Promise.race([svc.status.then(() => "exited"), sleep(0).then(() => "running")]), "running");
      svc.kill("SIGTERM");
      // The drain would wait up to SHUTDOWN_TIMEOUT_SEC=60 and exit 1: exit 130 shows the second signal ended it.
      const status = await exitWithin(svc, 30_000, "exit after the second signal");
      assert.equal(status.code, 130);
      assert.equal(logsWith(svc, "second signal: exiting now; unfinished entries stay pending").length, 1);
      assert.equal(await pendingCount(world.redis, stream, world.group), 10, "nothing acked");
    } finally {
      await unlock();
    }
  }
  // Nothing lost, nothing duplicated: the next start stores each entry once.
  {
    await using svc = spawnService(["run"], world.env({ CLAIM_MIN_IDLE_MS: "100" }));
    await started(svc);
    await waitFor(async () => (await pendingCount(world.redis, stream, world.group)) === 0, {
      timeoutMs: 20_000,
      what: "all acked",
    });
    await stopCleanly(svc);
  }
  const rows = await tableRows(world);
  assert.deepEqual(rows.map((r) => r.source_id).sort(), [...ids].sort());
  assert.equal(await world.redis.xlen(world.deadLetterStream), 0);
});

Deno.test("SHUTDOWN_TIMEOUT_SEC bounds a drain whose database write hangs: exit 1, entries stay pending", async () => {
  await using world = await createWorld();
  const stream = `${world.prefix}:esp32:temperature`;
  await using svc = spawnService(["run"], world.env({ SHUTDOWN_TIMEOUT_SEC: "2" }));
  await started(svc);
  const unlock = await lockTable(world);
  try {
    await addEntries(
      world.redis,
      stream,
      Array.from({ length: 10 }, (_, i) => ({ value: String(i), timestamp: "2026-11-28T10:00:00Z" })),
    );
    await waitFor(async () => (await pendingCount(world.redis, stream, world.group)) === 10, {
      timeoutMs: 10_000,
      what: "10 pending",
    });
    svc.kill("SIGTERM");
    // 2 s of deadline, plus closing the connections (at most ~6 s), plus start-up slack.
    const status = await exitWithin(svc, 10_000, "exit within SHUTDOWN_TIMEOUT_SEC (2 s) plus closing time");
    assert.equal(status.code, 1);
    assert.equal(await pendingCount(world.redis, stream, world.group), 10, "nothing acked");
  } finally {
    await unlock();
  }
});

Deno.test("SHUTDOWN_TIMEOUT_SEC bounds a start-up migration that waits for the migration lock", async () => {
  await using world = await createWorld();
  // Another instance is migrating this table and holds the lock.
  const conn = await world.sql.reserve();
  const key = `db-writer migrate ${world.table}`;
  await conn`SELECT pg_advisory_lock(hashtext(${key}))`;
  try {
    await using svc = spawnService(["run"], world.env({ SHUTDOWN_TIMEOUT_SEC: "2" }));
    await svc.waitForLog(message("starting db-writer"), START_MS);
    await waitFor(async () => {
      const [r] = await world.sql`
        SELECT count(*)::int AS n FROM pg_locks
         WHERE locktype = 'advisory' AND NOT granted AND objid = (hashtext(${key})::bigint & 4294967295)::oid`;
      return r!.n > 0;
    }, { timeoutMs: START_MS, what: "the service waiting for the migration lock" });
    svc.kill("SIGTERM");
    const status = await exitWithin(svc, 10_000, "exit within SHUTDOWN_TIMEOUT_SEC (2 s) plus closing time");
    assert.ok([0, 1].includes(status.code), `exit code 0 or 1, got ${status.code}`);
    assert.equal(logsWith(svc, "consuming").length, 0);
  } finally {
    await conn`SELECT pg_advisory_unlock(hashtext(${key}))`;
    conn.release();
  }
});
