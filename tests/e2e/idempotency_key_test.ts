/**
 * The idempotency key: index names that cannot collide with the table's (a
 * 63-character TABLE_NAME), a start-up check that the key exists, and a key
 * lost while running stopping the service instead of an endless retry.
 */
import assert from "node:assert/strict";
import { runCli, spawnService } from "../_helpers/process.ts";
import { DATABASE_URL } from "../_helpers/services.ts";
import { addEntries } from "../_helpers/streams.ts";
import { waitFor } from "../_helpers/wait.ts";
import { createWorld, type World } from "../_helpers/world.ts";
import { exitWithin, logsWith, message, stopService } from "../_helpers/process.ts";
import { rowCounts } from "../_helpers/rows.ts";
import { lastDeliveredId } from "../_helpers/streams.ts";
import { indexName } from "../../src/sink/table.ts";
import { checkIdempotencyKey } from "../../src/sink/schema_check.ts";
import { PostgresSink } from "../../src/sink/writer.ts";
import { classify, SchemaError } from "../../src/errors.ts";
import { openPostgres } from "../../src/sink/client.ts";

const entry = (i: number) => ({ value: String(i), timestamp: "2026-11-28T10:00:00Z" });
const LONG = "r".repeat(63);

Deno.test("index names: short ones as before, long ones within 63 bytes and never the table's name", () => {
  assert.equal(indexName({ name: "sensor_readings" }, "source_key"), "sensor_readings_source_key");
  for (const n of [52, 53, 60, 63]) {
    const name = "t".repeat(n);
    const a = indexName({ name }, "source_key");
    const b = indexName({ name }, "legacy_rows");
    assert.ok(a.length <= 63 && b.length <= 63, `${a} ${b}`);
    assert.notEqual(a, name);
    assert.notEqual(a, b);
    assert.notEqual(a, indexName({ name: name.slice(0, -1) + "u" }, "source_key"), "tables differing at the end");
  }
});

Deno.test("a 63-character TABLE_NAME gets its idempotency index: a group reset adds no second row", async () => {
  await using world = await createWorld();
  const table = `${world.schema}.${LONG}`;
  const stream = `${world.prefix}:d1:temp`;
  await using svc = spawnService(["run"], world.env({ TABLE_NAME: table }));
  await svc.waitForLog(message("consuming"), 30_000);
  const ids = await addEntries(world.redis, stream, Array.from({ length: 200 }, (_, i) => entry(i)));
  const count = async () => Number((await world.sql.unsafe(`SELECT count(*)::int AS n FROM ${table}`))[0]!.n);
  await waitFor(async () => (await count()) === 200, { timeoutMs: 20_000, what: "200 rows" });
  // The whole stream read again from the start.
  await world.redis.xgroup("SETID", stream, world.group, "0");
  await waitFor(
    async () => (await lastDeliveredId(world.redis, stream, world.group)) === ids.at(-1),
    { timeoutMs: 20_000, what: "the stream read again" },
  );
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await stopService(svc), 0);
  assert.equal(await count(), 200, "one row per entry");
  const indexes = await world.sql.unsafe(
    `SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND indexdef LIKE 'CREATE UNIQUE INDEX%source_stream%'`,
    [world.schema],
  );
  assert.equal(indexes.length, 1);
});

/** Applies the migrations, then drops the idempotency index. */
async function tableWithoutKey(world: World): Promise<void> {
  const out = await runCli(["migrate", "up"], world.env());
  assert.equal(out.code, 0, out.stderr);
  await world.sql.unsafe(`DROP INDEX "${world.schema}"."sensor_readings_source_key"`);
}

Deno.test("start-up: a table without its idempotency index stops the service (exit 1), naming table and index", async () => {
  await using world = await createWorld();
  await tableWithoutKey(world);
  await using svc = spawnService(["run"], world.env());
  const status = await exitWithin(svc, 30_000);
  assert.equal(status.code, 1);
  const errors = svc.records().filter((r) => r.level === "ERROR");
  assert.equal(errors.length, 1, JSON.stringify(errors));
  assert.match(String(errors[0]!.message), /sensor_readings has no unique index.*sensor_readings_source_key/);
  assert.equal(logsWith(svc, "consuming").length, 0, "nothing consumed");
});

Deno.test("the check itself: passes with the key or without the table; SchemaError without the key", async () => {
  await using world = await createWorld();
  await using sql = Object.assign(openPostgres(DATABASE_URL, { max: 1 }), {
    [Symbol.asyncDispose]() {
      return Promise.resolve();
    },
  });
  const table = { schema: world.schema, name: "sensor_readings" };
  try {
    await checkIdempotencyKey(sql, table); // no table yet
    await tableWithoutKey(world);
    await assert.rejects(checkIdempotencyKey(sql, table), SchemaError);
    // A unique index on other columns, or a partial one, is not the key.
    await world.sql.unsafe(
      `CREATE UNIQUE INDEX other ON ${world.table} (source_stream, source_id, "timestamp") WHERE value > 0`,
    );
    await assert.rejects(checkIdempotencyKey(sql, table), SchemaError);
    await world.sql.unsafe(`CREATE UNIQUE INDEX k ON ${world.table} ("timestamp", source_id, source_stream)`);
    await checkIdempotencyKey(sql, table);

    // 42P10 from the writer is a SchemaError, never an outage retried forever.
    await world.sql.unsafe(`DROP INDEX "${world.schema}".k`);
    const sink = new PostgresSink(sql, table);
    const reading = {
      time: "2026-11-28T10:00:00Z",
      deviceId: "d",
      sensorType: "t",
      value: 1,
      metadata: null,
      sourceStream: "s",
      sourceId: "1-0",
    };
    const err = await sink.write([reading], undefined, { redelivered: true }).then(() => undefined, (e) => e);
    assert.ok(err instanceof SchemaError, String(err));
    assert.equal(classify(err), "unknown");
    assert.equal(classify((err as Error).cause), "unknown");
  } finally {
    await sql.end({ timeout: 5 });
  }
});

Deno.test("the index dropped while running: the INSERT path stops the service (exit 1), entries left pending", async () => {
  await using world = await createWorld();
  const stream = `${world.prefix}:d1:temp`;
  await using svc = spawnService(["run"], world.env());
  await svc.waitForLog(message("consuming"), 30_000);
  await world.sql.unsafe(`DROP INDEX "${world.schema}"."sensor_readings_source_key"`);
  // A row the table refuses makes the COPY fail, and the batch goes by INSERT … ON CONFLICT.
  await world.sql.unsafe(`ALTER TABLE ${world.table} ADD CONSTRAINT small CHECK (value < 1000)`);
  await addEntries(world.redis, stream, [entry(1), entry(5000)]);
  const status = await exitWithin(svc, 30_000);
  assert.equal(status.code, 1);
  assert.equal((await rowCounts(world)).rows, 0);
  assert.equal(await world.redis.xlen(world.deadLetterStream), 0, "nothing dead-lettered");
  const [pending] = (await world.redis.xpending(stream, world.group)) as [number];
  assert.equal(Number(pending), 2, "the entries stay pending");
  const errors = svc.records().filter((r) => r.level === "ERROR");
  assert.equal(errors.length, 1, JSON.stringify(errors));
  assert.match(String(errors[0]!.message), /lost its unique index.*42P10/);
});
