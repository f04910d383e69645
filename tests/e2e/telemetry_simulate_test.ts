/**
 * `simulate --layout telemetry`: the iotDashboard ingestion service's
 * current messages, which the `telemetry` layout stores with their units.
 */
import assert from "node:assert/strict";
import { runCli, spawnService } from "../_helpers/process.ts";
import { pendingCount } from "../_helpers/streams.ts";
import { waitFor } from "../_helpers/wait.ts";
import { createWorld } from "../_helpers/world.ts";
import { createUpstreamTables } from "../_helpers/telemetry.ts";
import { generateMessages, pythonFloat, seededRng, type SimMessage } from "../../src/cli/simulate/messages.ts";

Deno.test("generateMessages with telemetry: device_id, metric, value as str(float), a naive timestamp; nothing else", () => {
  const gen = generateMessages(
    {
      devices: 2,
      sensors: ["temperature", "co2"],
      shape: "shared",
      prefix: "mqtt_stream",
      stream: "mqtt:ingestion",
      badRatio: 0,
      telemetry: true,
    },
    seededRng(3),
    () => Date.UTC(2026, 10, 28, 10, 0, 0, 5),
  );
  for (let i = 0; i < 20; i++) {
    const m = gen.next().value as SimMessage;
    assert.equal(m.stream, "mqtt:ingestion");
    assert.deepEqual(Object.keys(m.fields), ["device_id", "metric", "value", "timestamp"]);
    assert.match(m.fields.value!, /^-?\d+\.\d+$/);
    assert.match(m.fields.timestamp!, /^2026-11-28T10:00:00\.\d{6}$/);
  }
  assert.equal(pythonFloat(650), "650.0");
  assert.equal(pythonFloat(21.25), "21.25");
});

Deno.test("simulate --layout telemetry → the telemetry layout stores every message with its unit", async () => {
  await using world = await createWorld();
  await createUpstreamTables(world.sql, world.schema, ["sim-001", "sim-002"]);
  const stream = `${world.prefix}:ingestion`;
  const env = world.env({
    TABLE_LAYOUT: "telemetry",
    TABLE_NAME: `${world.schema}.telemetry`,
    STREAM_PATTERN: stream,
    DEAD_LETTER_STREAM: `${world.prefix}:dlq`,
  });
  const bad = await runCli(["simulate", "--layout", "telemetry", "--shape", "both"], env);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--layout telemetry writes the single stream only/);
  // TABLE_LAYOUT=telemetry makes it the default.
  const sim = await runCli(["simulate", "--stream", stream, "--devices", "2", "--count", "28", "--seed", "5"], env);
  assert.equal(sim.code, 0, sim.stderr);
  assert.match(sim.stdout, /sent 28 messages \(0 malformed\) to 1 streams/);
  await using svc = spawnService(["run"], env);
  const count = async () =>
    Number((await world.sql.unsafe(`SELECT count(*) AS n FROM "${world.schema}".telemetry`))[0]!.n);
  await waitFor(async () => (await count()) === 28, { timeoutMs: 30_000, what: "28 rows" });
  await waitFor(async () => (await pendingCount(world.redis, stream, world.group)) === 0, {
    timeoutMs: 20_000,
    what: "nothing pending",
  });
  const units = await world.sql.unsafe(
    `SELECT metric, min(unit) AS unit FROM "${world.schema}".telemetry GROUP BY metric ORDER BY metric`,
  );
  assert.deepEqual(units.map((r) => [r.metric, r.unit]), [
    ["co2", "ppm"],
    ["humidity", "%"],
    ["light", "lux"],
    ["noise", "dB"],
    ["pm25", "µg/m³"],
    ["pressure", "hPa"],
    ["temperature", "°C"],
  ]);
  assert.equal(await world.redis.xlen(`${world.prefix}:dlq`), 0);
  svc.kill("SIGTERM");
  assert.equal((await svc.status).code, 0);
});
