/**
 * The batch writer against a real PostgreSQL: COPY for first deliveries,
 * the INSERT … ON CONFLICT fallback, and the pool's sockets.
 */
import assert from "node:assert/strict";
import { createWorld, type World } from "../_helpers/world.ts";
import { waitFor } from "../_helpers/wait.ts";
import { DATABASE_URL } from "../_helpers/services.ts";
import { closePostgres, connectPostgres } from "../../src/sink/client.ts";
import { PostgresSink } from "../../src/sink/writer.ts";
import { loadMigrations } from "../../src/sink/migrations/files.ts";
import { Migrator } from "../../src/sink/migrations/runner.ts";
import { logger } from "../../src/log.ts";
import type { Reading } from "../../src/ports.ts";

async function migrated(world: World) {
  const table = { schema: world.schema, name: "sensor_readings" };
  await new Migrator(world.sql, {
    table,
    enableTimescale: false,
    migrations: await loadMigrations(),
    log: logger("test"),
  }).up();
  return table;
}

function reading(i: number, extra: Partial<Reading> = {}): Reading {
  return {
    time: `2026-11-28T10:00:${String(i % 60).padStart(2, "0")}.123456+00:00`,
    deviceId: "dev-1",
    sensorType: "temperature",
    value: 20 + i,
    metadata: { seq: i },
    sourceStream: "s:dev-1:temperature",
    sourceId: `1795000000000-${i}`,
    ...extra,
  };
}

async function rows(world: World) {
  return await world.sql.unsafe(
    `SELECT device_id, sensor_type, value, metadata, source_stream, source_id,
            to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS ts
       FROM "${world.schema}".sensor_readings ORDER BY source_id`,
  );
}

Deno.test("writer: a first-delivery batch stores every value exactly, special characters included", async () => {
  await using world = await createWorld();
  const table = await migrated(world);
  const sql = connectPostgres(DATABASE_URL, { max: 2 });
  try {
    const sink = new PostgresSink(sql, table);
    const odd = reading(1, {
      deviceId: "dev\\1\twith\ttabs",
      sensorType: "line\nbreak\r:x",
      value: -1.5e-7,
      metadata: { path: "C:\\data\\new", note: "a\tb\nc", unicode: "°C ✓" },
      sourceStream: "s:dev\\1:line\nbreak",
    });
    const plain = reading(2, { metadata: null, value: 1e21 });
    const out = await sink.write([odd, plain]);
    assert.deepEqual(out, { inserted: 2, duplicates: 0, rejected: [], deferred: [] });
    const got = await rows(world);
    assert.equal(got.length, 2);
    assert.deepEqual(
      { ...got[0] },
      {
        device_id: odd.deviceId,
        sensor_type: odd.sensorType,
        value: odd.value,
        metadata: odd.metadata,
        source_stream: odd.sourceStream,
        source_id: odd.sourceId,
        ts: "2026-11-28T10:00:01.123456",
      },
    );
    assert.equal(got[1]!.metadata, null);
    assert.equal(got[1]!.value, 1e21);
  } finally {
    await closePostgres(sql);
  }
});

Deno.test("writer: metadata is stored as the message wrote it, by COPY and by the INSERT alike", async () => {
  await using world = await createWorld();
  const table = await migrated(world);
  const sql = connectPostgres(DATABASE_URL, { max: 2 });
  try {
    const sink = new PostgresSink(sql, table);
    // Digits a double would lose, a trailing zero, white space COPY must escape.
    const text = '{"big": 12345678901234567890,\n\t"x": 1.50, "s": "a\\tb\\\\c"}';
    const metadata = JSON.parse(text);
    const copied = reading(1, { metadata, metadataText: text });
    const inserted = reading(2, { metadata, metadataText: text });
    assert.equal((await sink.write([copied])).inserted, 1);
    assert.equal((await sink.write([inserted], undefined, { redelivered: true })).inserted, 1);
    const got = await world.sql.unsafe(
      `SELECT source_id, metadata::text AS m, $1::text::jsonb::text AS want
         FROM "${world.schema}".sensor_readings ORDER BY source_id`,
      [text],
    );
    assert.equal(got.length, 2);
    for (const row of got) assert.equal(row.m, row.want, `row ${row.source_id}`);
    assert.match(String(got[0]!.m), /12345678901234567890/);
    assert.match(String(got[0]!.m), /1\.50/);
  } finally {
    await closePostgres(sql);
  }
});

Deno.test("writer: one stream's readings of several devices and sensors each keep their own names", async () => {
  await using world = await createWorld();
  const table = await migrated(world);
  const sql = connectPostgres(DATABASE_URL, { max: 2 });
  try {
    const sink = new PostgresSink(sql, table);
    const names = [["a", "t"], ["b", "t"], ["a", "h"], ["a", "h"], ["tab\tdev", "t"], ["a", "t"]];
    const batch = names.map(([deviceId, sensorType], i) =>
      reading(i, { deviceId, sensorType, sourceStream: "mqtt:ingestion" })
    );
    assert.equal((await sink.write(batch)).inserted, names.length);
    // A later batch of the same stream starts with other names than the last row before.
    assert.equal(
      (await sink.write([reading(9, { deviceId: "c", sensorType: "p", sourceStream: "mqtt:ingestion" })])).inserted,
      1,
    );
    const got = (await rows(world)).map((r) => [r.device_id, r.sensor_type]);
    assert.deepEqual(got, [...names, ["c", "p"]]);
  } finally {
    await closePostgres(sql);
  }
});

Deno.test("writer: a first-delivery batch holding rows already stored stores only the others, once", async () => {
  await using world = await createWorld();
  const table = await migrated(world);
  const sql = connectPostgres(DATABASE_URL, { max: 2 });
  try {
    const sink = new PostgresSink(sql, table);
    const batch = Array.from({ length: 50 }, (_, i) => reading(i));
    assert.equal((await sink.write(batch.slice(10, 20))).inserted, 10);
    // Entries read again as new (a group reset, say): COPY meets the key and the writer falls back.
    const out = await sink.write(batch);
    assert.deepEqual(out, { inserted: 40, duplicates: 10, rejected: [], deferred: [] });
    const got = await rows(world);
    assert.equal(got.length, 50);
    assert.equal(new Set(got.map((r) => r.source_id)).size, 50);
    // The connection is usable afterwards, on every connection of the pool.
    await Promise.all([sql`select 1`, sql`select 2`]);
  } finally {
    await closePostgres(sql);
  }
});

Deno.test("writer: a row the table refuses fails only itself, with the database's reason", async () => {
  await using world = await createWorld();
  const table = await migrated(world);
  await world.sql.unsafe(
    `ALTER TABLE "${world.schema}".sensor_readings ADD CONSTRAINT no_negative CHECK (value >= 0)`,
  );
  const sql = connectPostgres(DATABASE_URL, { max: 2 });
  try {
    const sink = new PostgresSink(sql, table);
    const batch = Array.from({ length: 30 }, (_, i) => reading(i, i === 17 ? { value: -1 } : {}));
    const out = await sink.write(batch);
    assert.equal(out.inserted, 29);
    assert.equal(out.rejected.length, 1);
    assert.equal(out.rejected[0]!.reading.sourceId, batch[17]!.sourceId);
    assert.match(out.rejected[0]!.reason, /no_negative/);
    assert.equal((await rows(world)).length, 29);
  } finally {
    await closePostgres(sql);
  }
});

Deno.test("writer: an aborted COPY fails as a transient error and leaves no rows", async () => {
  await using world = await createWorld();
  const table = await migrated(world);
  // Hold the key of one row so the COPY waits on the lock until cancelled.
  const holder = await world.sql.reserve();
  const sql = connectPostgres(DATABASE_URL, { max: 2 });
  try {
    await holder.unsafe("BEGIN");
    const first = reading(0);
    await holder.unsafe(
      `INSERT INTO "${world.schema}".sensor_readings ("timestamp", device_id, sensor_type, value, source_stream, source_id)
       VALUES ('${first.time}', 'x', 'y', 0, '${first.sourceStream}', '${first.sourceId}')`,
    );
    const sink = new PostgresSink(sql, table);
    const abort = new AbortController();
    const writing = sink.write(Array.from({ length: 20 }, (_, i) => reading(i)), abort.signal);
    // Wait until the COPY is blocked on the held key, then abort.
    await waitFor(async () => {
      const [r] = await world.sql.unsafe(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'COPY "${world.schema}"%'`,
      );
      return Number(r!.n) === 1;
    }, { timeoutMs: 30_000, what: "the COPY waiting on the held key" });
    abort.abort();
    await assert.rejects(writing, (err: Error & { code?: string }) => {
      assert.equal(err.code, "57014", `cancelled statement, got ${err.code}: ${err.message}`);
      return true;
    });
    await holder.unsafe("ROLLBACK");
    assert.equal((await rows(world)).length, 0);
  } finally {
    holder.release();
    await closePostgres(sql);
  }
});
