/**
 * Dead letters the current iotDashboard writer left in `mqtt:dlq`, in its own
 * shape: `dlq list` shows them, `dlq replay` re-adds each as an entry of its
 * input stream, or skips it with the reason, and the service stores the
 * re-added ones (readings and telemetry layouts). Each test in its own world
 * (a unique stream stands in for `mqtt:ingestion`).
 */
import assert from "node:assert/strict";
import { createWorld, type World } from "../_helpers/world.ts";
import { runCli, spawnService } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { tableRows } from "../_helpers/rows.ts";
import { createUpstreamTables } from "../_helpers/telemetry.ts";
import { fieldsToObject } from "../../src/source/fields.ts";
import { upstreamLetters } from "../_helpers/iotdashboard.ts";

/** XADDs letters as that writer does (its field order); returns their ids. */
async function seedUpstreamLetters(world: World, letters: Record<string, string>[]): Promise<string[]> {
  const ids: string[] = [];
  for (const l of letters) {
    ids.push(String(await world.redis.xadd(world.deadLetterStream, "*", ...Object.entries(l).flat())));
  }
  return ids;
}

Deno.test("dlq list and replay take the iotDashboard writer's dead letters", async () => {
  await using world = await createWorld();
  const input = `${world.prefix}:ingestion`;
  const env = world.env();
  const ids = await seedUpstreamLetters(world, upstreamLetters(input));

  const list = await runCli(["dlq", "list", "--json"], env);
  assert.equal(list.code, 0, list.stderr);
  const shown = list.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(shown.map((l) => [l.id, l.original_stream, l.original_id, l.error]), [
    [ids[0], input, "1764324000000-0", "dead-lettered by the iotDashboard writer: db-write-failed"],
    [ids[1], input, "1764324000001-0", "dead-lettered by the iotDashboard writer: transform-failed"],
    [ids[2], input, "1764324000002-0", "dead-lettered by the iotDashboard writer: parse-failed"],
  ]);
  assert.deepEqual(shown[1].fields, {
    device_id: "esp32-02",
    metric: "humidity",
    value: "40.0",
    timestamp: "2026-11-28T10:00:01",
  });
  assert.equal(typeof shown[0].failed_at, "number");
  const text = await runCli(["dlq", "list"], env);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`${input} 1764324000000-0 {2}error: dead-lettered by the iotDashboard writer`));

  const replay = await runCli(["dlq", "replay"], env);
  assert.equal(replay.code, 1, "one letter skipped");
  assert.match(replay.stdout, /^replayed 2, skipped 1$/m);
  assert.match(
    replay.stderr,
    new RegExp(`skipped ${ids[2]}: it is a dead letter of the iotDashboard writer \\(reason "parse-failed"\\) without`),
  );
  const readded = (await world.redis.xrange(input, "-", "+")).map(([, flat]) => fieldsToObject(flat));
  assert.deepEqual(readded, [
    { device_id: "esp32-01", metric: "temperature", value: "21.5", timestamp: "2026-11-28T10:00:00.123456" },
    { device_id: "esp32-02", metric: "humidity", value: "40.0", timestamp: "2026-11-28T10:00:01" },
  ]);
  const left = await world.redis.xrange(world.deadLetterStream, "-", "+");
  assert.deepEqual(left.map(([id]) => id), [ids[2]], "the skipped letter stays");

  // The replayed entries are proper messages: the service stores them.
  await using svc = spawnService(["run"], env);
  await waitFor(async () => (await tableRows(world)).length === 2, { timeoutMs: 30_000, what: "two rows" });
  const rows = await tableRows(world);
  assert.deepEqual(rows.map((r) => [r.device_id, r.sensor_type, r.value, r.utc]).sort(), [
    ["esp32-01", "temperature", 21.5, "2026-11-28T10:00:00.123456"],
    ["esp32-02", "humidity", 40, "2026-11-28T10:00:01.000000"],
  ]);
  svc.kill("SIGTERM");
  assert.equal((await svc.status).code, 0);
  assert.equal(await world.redis.xlen(world.deadLetterStream), 1, "nothing new dead-lettered");
});

Deno.test("with TABLE_LAYOUT=telemetry, the old writer's dead letters replay into the telemetry table", async () => {
  await using world = await createWorld();
  await createUpstreamTables(world.sql, world.schema, ["esp32-01", "esp32-02"]);
  const input = `${world.prefix}:ingestion`;
  const dlq = `${world.prefix}:dlq`;
  const env = world.env({
    TABLE_LAYOUT: "telemetry",
    TABLE_NAME: `${world.schema}.telemetry`,
    STREAM_PATTERN: input,
    DEAD_LETTER_STREAM: dlq,
  });
  for (const l of upstreamLetters(input)) await world.redis.xadd(dlq, "*", ...Object.entries(l).flat());

  const replay = await runCli(["dlq", "replay"], env);
  assert.equal(replay.code, 1, replay.stderr);
  assert.match(replay.stdout, /^replayed 2, skipped 1$/m);

  await using svc = spawnService(["run"], env);
  const rows = () =>
    world.sql.unsafe(`SELECT device_id, metric, value, unit FROM "${world.schema}".telemetry ORDER BY device_id`);
  await waitFor(async () => (await rows()).length === 2, { timeoutMs: 30_000, what: "two telemetry rows" });
  svc.kill("SIGTERM");
  assert.equal((await svc.status).code, 0);
  assert.deepEqual((await rows()).map((r) => [r.device_id, r.metric, r.value, r.unit]), [
    ["esp32-01", "temperature", 21.5, "°C"],
    ["esp32-02", "humidity", 40, "%"],
  ]);
  assert.equal(await world.redis.xlen(dlq), 1, "only the letter without a reading is left");
});
