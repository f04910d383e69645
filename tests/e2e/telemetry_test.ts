/**
 * The `telemetry` layout end to end, against the iotDashboard's own
 * `devices` + `telemetry` tables: every good reading one row with its unit,
 * duplicates stored once, range rejects and unknown devices dead-lettered
 * with reasons, nothing pending, the tables' schema unchanged, exit 0 on
 * SIGTERM; registering the device and `dlq replay` stores its reading.
 */
import assert from "node:assert/strict";
import { runCli, spawnService } from "../_helpers/process.ts";
import { addEntries, pendingCount } from "../_helpers/streams.ts";
import { waitFor } from "../_helpers/wait.ts";
import { createWorld, type World } from "../_helpers/world.ts";
import { catalogDump, createUpstreamTables, registerDevice } from "../_helpers/telemetry.ts";

function telemetryEnv(world: World, extra: Record<string, string> = {}): Record<string, string> {
  return world.env({
    TABLE_LAYOUT: "telemetry",
    TABLE_NAME: `${world.schema}.telemetry`,
    STREAM_PATTERN: `${world.prefix}:ingestion`,
    DEAD_LETTER_STREAM: `${world.prefix}:dlq`,
    ...extra,
  });
}

/** An entry as the current ingestion service writes it. */
function upstream(device: string, metric: string, value: number, time: string, more: Record<string, string> = {}) {
  return { device_id: device, metric, value: String(value), timestamp: time, ...more };
}

Deno.test("telemetry layout: takeover of the iotDashboard's tables", async () => {
  await using world = await createWorld();
  const { sql, redis, schema } = world;
  await createUpstreamTables(sql, schema, ["dev-1", "dev-2"]);
  const before = await catalogDump(sql, schema);
  const stream = `${world.prefix}:ingestion`;
  const dlq = `${world.prefix}:dlq`;
  const t = (s: number) => `2026-11-28T10:00:${String(s).padStart(2, "0")}.123456`;
  await addEntries(redis, stream, [
    upstream("dev-1", "temperature", 21.5, t(1)),
    upstream("dev-1", "humidity", 40, t(1), { metadata: JSON.stringify({ unit: "RH%" }) }),
    upstream("dev-2", " Temp ", 19.25, t(2)),
    upstream("dev-2", "co2", 650, t(2), { unit: "ppm" }),
    upstream("dev-1", "wind_speed", 3.5, t(3)),
    upstream("dev-1", "temperature", 21.5, t(1)), // the device sends the same reading again
    upstream("dev-1", "temperature", 99, t(4)), // outside -50..60
    upstream("dev-9", "temperature", 20, t(5)), // not registered
  ]);

  await using svc = spawnService(["run"], telemetryEnv(world));
  await waitFor(async () => (await redis.xlen(dlq)) === 2, { timeoutMs: 30_000, what: "two dead letters" });
  await waitFor(async () => (await pendingCount(redis, stream, world.group)) === 0, {
    timeoutMs: 20_000,
    what: "nothing pending",
  });

  const rows = await sql.unsafe(
    `SELECT device_id, metric, value, unit FROM "${schema}".telemetry ORDER BY time, device_id, metric`,
  );
  assert.deepEqual(rows.map((r) => [r.device_id, r.metric, r.value, r.unit]), [
    ["dev-1", "humidity", 40, "RH%"],
    ["dev-1", "temperature", 21.5, "°C"],
    ["dev-2", " Temp ", 19.25, "°C"],
    ["dev-2", "co2", 650, "ppm"],
    ["dev-1", "wind_speed", 3.5, null],
  ]);

  const letters = await redis.xrange(dlq, "-", "+");
  const reasons = letters.map(([, f]) => f[f.indexOf("error") + 1]!);
  assert.match(reasons[0]!, /metric "temperature": value 99 is outside the plausible range -50\.\.60 °C/);
  assert.match(reasons[1]!, /device "dev-9" is not registered/);

  // The dashboard's device registry learns dev-9; replaying its letter stores it.
  await registerDevice(sql, schema, "dev-9");
  const unknownId = letters[1]![0];
  const replay = await runCli(["dlq", "replay", "--id", unknownId], telemetryEnv(world));
  assert.equal(replay.code, 0, replay.stderr);
  await waitFor(
    async () => (await sql.unsafe(`SELECT 1 FROM "${schema}".telemetry WHERE device_id = 'dev-9'`)).length === 1,
    { timeoutMs: 20_000, what: "dev-9's reading stored after replay" },
  );
  await waitFor(async () => (await pendingCount(redis, stream, world.group)) === 0, {
    timeoutMs: 20_000,
    what: "nothing pending",
  });
  assert.equal(await redis.xlen(dlq), 1, "only the range reject is left");

  svc.kill("SIGTERM");
  assert.equal((await svc.status).code, 0, svc.errLines.join("\n"));
  const final = svc.records().find((r) => r.message === "final stats" || r.msg === "final stats");
  assert.ok(final, `a final stats line: ${svc.lines.slice(-3).join("\n")}`);
  const counts = JSON.stringify(final);
  assert.match(counts, /"duplicates_skipped":1\b/, "the re-sent reading is a duplicate skipped");
  assert.match(counts, /"messages_written":6\b/, "five readings, then dev-9's after replay");
  assert.equal(await catalogDump(sql, schema), before, "the existing tables' schema is unchanged");
});
