/**
 * Taking over from the previous service: it stored rows but never
 * acknowledged them, so its entries are still pending in the shared group.
 * They must not become second rows.
 */
import assert from "node:assert/strict";
import { addEntries, minPendingIdleMs, pendingCount } from "../_helpers/streams.ts";
import { createWorld } from "../_helpers/world.ts";
import { spawnService, stopService } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { createPreviousServiceTable } from "../_helpers/rows.ts";

Deno.test("entries the old service stored but never acknowledged are not stored twice", async () => {
  await using world = await createWorld();
  const table = world.table;
  await createPreviousServiceTable(world);
  const stream = `${world.prefix}:esp32:temperature`;
  const entries = [
    { value: "21.5", timestamp: "2026-11-28T10:00:00Z" },
    { value: "21.75", timestamp: "2026-11-28T10:00:01.250000" },
    { value: "22", timestamp: "2026-11-28T10:00:02Z" }, // read, but the old service died before storing it
  ];
  await world.redis.xgroup("CREATE", stream, world.group, "0", "MKSTREAM");
  const ids = await addEntries(world.redis, stream, entries);
  await world.redis.xreadgroup("GROUP", world.group, "python-old", "COUNT", 10, "STREAMS", stream, ">");
  await world.sql.unsafe(
    `INSERT INTO ${table} (timestamp, device_id, sensor_type, value) VALUES
       ('2026-11-28T10:00:00Z', 'esp32', 'temperature', 21.5),
       ('2026-11-28T10:00:01.25Z', 'esp32', 'temperature', 21.75),
       ('2026-11-28T09:00:00Z', 'esp32', 'temperature', 19)`,
  );
  // Idle for longer than CLAIM_MIN_IDLE_MS, so the new service claims them on its first sweep.
  await waitFor(async () => (await minPendingIdleMs(world.redis, stream, world.group)) > 300, {
    what: "the old service's entries idle",
  });

  await using svc = spawnService(["run"], world.env({ CLAIM_MIN_IDLE_MS: "200" }));
  await waitFor(async () => (await pendingCount(world.redis, stream, world.group)) === 0, {
    timeoutMs: 20_000,
    what: "nothing pending",
  });
  assert.equal(await stopService(svc), 0);

  const rows = await world.sql.unsafe(
    `SELECT value, source_id FROM ${table} ORDER BY "timestamp", id`,
  );
  assert.deepEqual(rows.map((r) => [r.value, r.source_id]), [
    [19, null],
    [21.5, null],
    [21.75, null],
    [22, ids[2]],
  ]);
  assert.equal(await world.redis.xlen(world.deadLetterStream).catch(() => 0), 0);
});
