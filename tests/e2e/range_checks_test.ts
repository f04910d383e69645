/**
 * RANGE_CHECKS with the `readings` layout: off by default (every finite value
 * is stored, as before); on, a value outside its metric's range is
 * dead-lettered with a reason, the others are stored as usual.
 */
import assert from "node:assert/strict";
import { spawnService } from "../_helpers/process.ts";
import { addEntries, pendingCount } from "../_helpers/streams.ts";
import { waitFor } from "../_helpers/wait.ts";
import { createWorld } from "../_helpers/world.ts";

for (const on of [false, true]) {
  Deno.test(`readings layout, RANGE_CHECKS=${on}`, async () => {
    await using world = await createWorld();
    const stream = `${world.prefix}:dev-1:temperature`;
    await addEntries(world.redis, stream, [
      { value: "21.5", timestamp: "2026-11-28T10:00:01" },
      { value: "99", timestamp: "2026-11-28T10:00:02" },
    ]);
    await using svc = spawnService(["run"], world.env(on ? { RANGE_CHECKS: "true" } : {}));
    await svc.waitForLog((r) => r.message === "consuming");
    const rows = async () =>
      (await world.sql.unsafe(`SELECT value FROM ${world.table} ORDER BY "timestamp"`)).map((r) => r.value);
    await waitFor(async () =>
      (await pendingCount(world.redis, stream, world.group)) === 0 && (await rows()).length > 0
    );
    assert.deepEqual(await rows(), on ? [21.5] : [21.5, 99]);
    const letters = await world.redis.xrange(world.deadLetterStream, "-", "+");
    assert.equal(letters.length, on ? 1 : 0);
    if (on) {
      const f = letters[0]![1];
      assert.match(
        f[f.indexOf("error") + 1]!,
        /metric "temperature": value 99 is outside the plausible range -50\.\.60/,
      );
    }
    svc.kill("SIGTERM");
    assert.equal((await svc.status).code, 0);
  });
}
