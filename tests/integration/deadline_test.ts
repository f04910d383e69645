/**
 * The shutdown deadline against real Redis and PostgreSQL: once it has
 * passed, no write to PostgreSQL starts (no COPY, no INSERT, no lookup) and
 * the batch stays pending for redelivery.
 */
import assert from "node:assert/strict";
import { DATABASE_URL } from "../_helpers/services.ts";
import { addEntries, pendingCount } from "../_helpers/streams.ts";
import { createWorld, type World } from "../_helpers/world.ts";
import { goodFields } from "../_helpers/faults.ts";
import { openPostgres } from "../../src/sink/client.ts";
import { PostgresSink } from "../../src/sink/writer.ts";
import { loadMigrations } from "../../src/sink/migrations/files.ts";
import { Migrator } from "../../src/sink/migrations/runner.ts";
import { DeadLetterWriter } from "../../src/dead_letters/writer.ts";
import { Pipeline } from "../../src/pipeline.ts";
import { Outage } from "../../src/ops/outage.ts";
import { Stats } from "../../src/ops/stats.ts";
import { fieldsToObject } from "../../src/source/fields.ts";
import type { Delivery, Source, StreamEntry } from "../../src/ports.ts";
import type { Logger } from "../../src/log.ts";

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** Creates the table, adds `n` entries and delivers them to the group: `n` pending deliveries. */
async function pendingBatch(world: World, n: number, deliveries = 1): Promise<Delivery[]> {
  const table = { schema: world.schema, name: "sensor_readings" };
  await new Migrator(world.sql, { table, enableTimescale: false, migrations: await loadMigrations(), log: quiet })
    .up();
  const stream = `${world.prefix}:dev1:temperature`;
  await addEntries(world.redis, stream, Array.from({ length: n }, (_, i) => goodFields(i)));
  await world.redis.xgroup("CREATE", stream, world.group, "0");
  const reply = await world.redis.xreadgroup("GROUP", world.group, "c1", "COUNT", n, "STREAMS", stream, ">") as [
    string,
    [string, string[]][],
  ][];
  return reply[0]![1].map(([id, flat]) => ({ stream, id, fields: fieldsToObject(flat), deliveries }));
}

/** The real sink, dead letters and XACK of one world. */
function pipelineFor(world: World, sql: ReturnType<typeof openPostgres>): Pipeline {
  const source: Source = {
    read: () => Promise.resolve([]),
    ack: async (entries: readonly StreamEntry[]) => {
      for (const e of entries) await world.redis.xack(e.stream, world.group, e.id);
    },
  };
  return new Pipeline({
    source,
    sink: new PostgresSink(sql, { schema: world.schema, name: "sensor_readings" }),
    deadLetters: new DeadLetterWriter(world.redis, { stream: world.deadLetterStream, group: world.group, maxLen: 0 }),
    log: quiet,
    stats: new Stats(),
    redisOutage: new Outage("redis", quiet),
    dbOutage: new Outage("postgres", quiet),
    maxDeliveries: 5,
    backoff: { initialMs: 10, maxMs: 20 },
    writeTimeoutMs: 20_000,
    processingIntervalMs: 0,
    writers: 1,
  });
}

async function rowCount(world: World): Promise<number> {
  const [r] = await world.sql.unsafe(`SELECT count(*)::int AS n FROM "${world.schema}".sensor_readings`);
  return Number(r!.n);
}

for (const deliveries of [1, 2, 9]) {
  Deno.test(`deadline: past it, a batch (delivery ${deliveries}) starts no write and stays pending`, async () => {
    await using world = await createWorld();
    await using sql = openPostgres(DATABASE_URL, { max: 2 });
    const batch = await pendingBatch(world, 5, deliveries);
    const hard = AbortSignal.abort(new Error("deadline"));
    const left = await pipelineFor(world, sql).processBatch(batch, hard);
    assert.equal(left, 5, "every entry counted as left pending");
    assert.equal(await rowCount(world), 0, "no row written after the deadline");
    assert.equal(await pendingCount(world.redis, batch[0]!.stream, world.group), 5, "nothing acknowledged");
    assert.equal(await world.redis.exists(world.deadLetterStream), 0, "nothing dead-lettered");
  });
}

Deno.test("deadline: before it, the same batch is stored and acknowledged", async () => {
  await using world = await createWorld();
  await using sql = openPostgres(DATABASE_URL, { max: 2 });
  const batch = await pendingBatch(world, 5);
  assert.equal(await pipelineFor(world, sql).processBatch(batch, new AbortController().signal), 0);
  assert.equal(await rowCount(world), 5);
  assert.equal(await pendingCount(world.redis, batch[0]!.stream, world.group), 0);
});
