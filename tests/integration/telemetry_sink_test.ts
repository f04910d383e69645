/**
 * The telemetry sink against a real PostgreSQL and the iotDashboard's table
 * shape: COPY for first deliveries, duplicates (redelivered or re-sent)
 * skipped and counted, an unknown device rejected alone, and `stored`.
 */
import assert from "node:assert/strict";
import { DATABASE_URL } from "../_helpers/services.ts";
import { createWorld } from "../_helpers/world.ts";
import { createUpstreamTables } from "../_helpers/telemetry.ts";
import { closePostgres, connectPostgres } from "../../src/sink/client.ts";
import { TelemetrySink } from "../../src/sink/telemetry.ts";
import { readEntry } from "../../src/decode/read_entry.ts";
import { DEFAULT_LIMITS } from "../../src/decode/limits.ts";
import { MetricRules } from "../../src/decode/metric_rules.ts";
import type { Reading } from "../../src/ports.ts";

function reading(i: number, extra: Partial<Reading> = {}): Reading {
  return {
    time: `2026-11-28T10:00:${String(i % 60).padStart(2, "0")}.123456+00:00`,
    deviceId: "dev-1",
    sensorType: "temperature",
    value: 20 + i,
    metadata: null,
    unit: "°C",
    sourceStream: "mqtt:ingestion",
    sourceId: `1795000000000-${i}`,
    ...extra,
  };
}

const rules = new MetricRules({ ranges: true, units: true });
const read = (e: Parameters<typeof readEntry>[0]) => readEntry(e, DEFAULT_LIMITS, (r) => rules.apply(r));

async function setUp() {
  const world = await createWorld();
  await createUpstreamTables(world.sql, world.schema, ["dev-1", "dev-2"]);
  const sql = connectPostgres(DATABASE_URL, { max: 2 });
  const sink = new TelemetrySink(sql, { schema: world.schema, name: "telemetry" }, read);
  const count = async () =>
    Number((await world.sql.unsafe(`SELECT count(*) AS n FROM "${world.schema}".telemetry`))[0]!.n);
  return {
    world,
    sink,
    count,
    async [Symbol.asyncDispose]() {
      await closePostgres(sql);
      await world[Symbol.asyncDispose]();
    },
  };
}

Deno.test("telemetry sink: first deliveries by COPY, one row each with its unit", async () => {
  await using t = await setUp();
  const out = await t.sink.write([reading(1), reading(2, { unit: null, sensorType: "wind" })]);
  assert.deepEqual(out, { inserted: 2, duplicates: 0, rejected: [], deferred: [] });
  const rows = await t.world.sql.unsafe(`SELECT metric, unit FROM "${t.world.schema}".telemetry ORDER BY time`);
  assert.deepEqual(rows.map((r) => [r.metric, r.unit]), [["temperature", "°C"], ["wind", null]]);
});

Deno.test("telemetry sink: a redelivered batch and a re-sent reading are stored once, counted as duplicates", async () => {
  await using t = await setUp();
  await t.sink.write([reading(1), reading(2)]);
  const again = await t.sink.write([reading(1), reading(2), reading(3)], undefined, { redelivered: true });
  assert.deepEqual(again, { inserted: 1, duplicates: 2, rejected: [], deferred: [] });
  // A first delivery of a reading already stored (the device sent it twice): COPY fails, the INSERT skips it.
  const resent = await t.sink.write([reading(4), reading(1, { sourceId: "1795000000001-0" }), reading(4)]);
  assert.deepEqual(resent, { inserted: 1, duplicates: 2, rejected: [], deferred: [] });
  assert.equal(await t.count(), 4);
});

Deno.test("telemetry sink: an unknown device is rejected alone, naming it; the rest is stored", async () => {
  await using t = await setUp();
  const batch = [reading(1), reading(2, { deviceId: "dev-9" }), reading(3, { deviceId: "dev-2" }), reading(4)];
  const out = await t.sink.write(batch);
  assert.equal(out.inserted, 3);
  assert.equal(out.rejected.length, 1);
  assert.equal(out.rejected[0]!.reading.deviceId, "dev-9");
  assert.equal(out.rejected[0]!.class, "unknown_device");
  assert.match(out.rejected[0]!.reason, /device "dev-9" is not registered/);
  assert.equal(await t.count(), 3);
});

Deno.test("telemetry sink: stored() finds entries whose reading is in the table", async () => {
  await using t = await setUp();
  const entry = (id: string, time: string) => ({
    stream: "mqtt:ingestion",
    id,
    fields: { device_id: "dev-1", metric: "temperature", value: "21", timestamp: time },
  });
  const stored = entry("1-1", "2026-11-28T10:00:01.123456");
  const r = read(stored)!;
  await t.sink.write([r]);
  const found = await t.sink.stored([stored, entry("1-2", "2026-11-28T10:00:02"), {
    stream: "mqtt:ingestion",
    id: "1-3",
    fields: { value: "x" },
  }]);
  assert.deepEqual([...found], ["mqtt:ingestion\u00001-1"]);
});
