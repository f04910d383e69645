/**
 * Edge values through the running service into PostgreSQL: a leap second
 * and device ids padded with white space.
 */
import assert from "node:assert/strict";
import { spawnService } from "../_helpers/process.ts";
import { addEntries } from "../_helpers/streams.ts";
import { waitFor } from "../_helpers/wait.ts";
import { createWorld } from "../_helpers/world.ts";
import { message, stopService } from "../_helpers/process.ts";
import { rowCounts, tableRows } from "../_helpers/rows.ts";

Deno.test("a leap second is stored as 23:59:59.999999; padded device ids and sensor types are trimmed", async () => {
  await using world = await createWorld();
  await using svc = spawnService(["run"], world.env());
  await svc.waitForLog(message("consuming"), 30_000);
  const stream = `${world.prefix}:ingest`;
  await addEntries(world.redis, stream, [
    { device_id: "esp32", metric: "temp", value: "1", timestamp: "2016-12-31T23:59:60Z" },
    { device_id: "esp32", metric: "temp", value: "2", timestamp: "2017-01-01T00:59:60.5+01:00" },
    { device_id: "  esp32 ", metric: " temp\t", value: "3", timestamp: "2017-01-01T00:00:00Z" },
  ]);
  await waitFor(async () => (await rowCounts(world)).rows === 3, { timeoutMs: 20_000, what: "3 rows" });
  assert.equal(await stopService(svc), 0);
  const rows = await tableRows(world);
  assert.deepEqual(
    rows.map((r) => [r.utc, r.device_id, r.sensor_type, r.value]),
    [
      ["2016-12-31T23:59:59.999999", "esp32", "temp", 1],
      ["2016-12-31T23:59:59.999999", "esp32", "temp", 2],
      ["2017-01-01T00:00:00.000000", "esp32", "temp", 3],
    ],
  );
  assert.equal(await world.redis.exists(world.deadLetterStream), 0, "nothing dead-lettered");
});
