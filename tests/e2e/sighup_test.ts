/**
 * SIGHUP (a closed terminal, `kill -HUP`) drains like SIGTERM: the batch in
 * hand is finished and the service exits 0, instead of dying at once (129).
 */
import assert from "node:assert/strict";
import { spawnService } from "../_helpers/process.ts";
import { addEntries, pendingCount } from "../_helpers/streams.ts";
import { waitFor } from "../_helpers/wait.ts";
import { createWorld } from "../_helpers/world.ts";
import { exitWithin, logsWith, message } from "../_helpers/process.ts";
import { rowCounts } from "../_helpers/rows.ts";

Deno.test("SIGHUP under load: drains, exits 0, every read entry a row or still pending", async () => {
  await using world = await createWorld();
  const stream = `${world.prefix}:d1:temp`;
  await using svc = spawnService(["run"], world.env({ BATCH_SIZE: "100" }));
  await svc.waitForLog(message("consuming"), 30_000);
  const entries = Array.from({ length: 3000 }, (_, i) => ({ value: String(i), timestamp: "2026-11-28T10:00:00Z" }));
  await addEntries(world.redis, stream, entries);
  await waitFor(async () => (await rowCounts(world)).rows > 0, { timeoutMs: 20_000, what: "the first rows" });
  svc.kill("SIGHUP");
  const status = await exitWithin(svc, 30_000);
  assert.equal(status.code, 0, `exit code after SIGHUP; stderr:\n${svc.errLines.join("\n")}`);
  const shutdown = logsWith(svc, "shutting down: finishing the batch in hand");
  assert.equal(shutdown.length, 1);
  assert.equal(shutdown[0]!.signal, "SIGHUP");
  assert.equal(logsWith(svc, "final stats").length, 1);
  // Nothing half-done: entries read but not stored are still pending, none were acked without a row.
  const { rows, distinct } = await rowCounts(world);
  assert.equal(rows, distinct);
  assert.equal(await pendingCount(world.redis, stream, world.group), 0, "the batch in hand was finished");
});
