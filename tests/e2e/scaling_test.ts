/**
 * Many workers (issue 7, part 5): instances in one consumer group share the
 * load. Three instances drain one backlog; each stores a fair share, and
 * together exactly every entry, once.
 */
import assert from "node:assert/strict";
import { createWorld } from "../_helpers/world.ts";
import { message, spawnService, stopService } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { fillBacklog, rowStats, storedKeys, tail, totalPending } from "../_helpers/faults.ts";

const START_MS = 60_000;
const SETTLE_MS = 180_000;

Deno.test("three instances in one group: each stores a fair share, together every entry exactly once", async () => {
  await using world = await createWorld();
  const names = ["share-0", "share-1", "share-2"];
  await using w0 = spawnService(["run"], world.env({ CONSUMER_NAME: names[0]!, BATCH_SIZE: "200" }));
  await using w1 = spawnService(["run"], world.env({ CONSUMER_NAME: names[1]!, BATCH_SIZE: "200" }));
  await using w2 = spawnService(["run"], world.env({ CONSUMER_NAME: names[2]!, BATCH_SIZE: "200" }));
  const workers = [w0, w1, w2];
  await Promise.all(workers.map((w) => w.waitForLog(message("consuming"), START_MS)));

  const total = 12_000;
  const backlog = await fillBacklog(world.redis, world.prefix, { total, streamCount: 6, chunk: 250 });
  await waitFor(
    async () =>
      (await totalPending(world.redis, backlog.streams, world.group)) === 0 && (await rowStats(world)).rows >= total,
    { timeoutMs: SETTLE_MS, what: `${total} rows and nothing pending` },
  ).catch((err) => {
    throw new Error(`${err.message}\n${workers.map((w) => tail(w, 15)).join("\n---\n")}`);
  });

  const written: number[] = [];
  for (const w of workers) {
    assert.equal(await stopService(w, 30_000), 0, tail(w));
    const final = w.records().find(message("final stats"));
    assert.ok(final, `final stats logged\n${tail(w)}`);
    written.push(Number(final.messages_written));
  }
  const { rows, distinct } = await rowStats(world);
  assert.equal(rows, total, "every entry a row");
  assert.equal(distinct, total, "none twice");
  assert.deepEqual(await storedKeys(world), backlog.good);
  assert.equal(written.reduce((a, b) => a + b, 0), total, `rows written per instance ${written} add up to ${total}`);
  // A third each would be perfectly fair; a tenth is a bound the shared, noisy machine cannot miss by chance.
  for (const [i, n] of written.entries()) {
    assert.ok(n >= total / 10, `${names[i]} stored ${n} of ${total} (${written.join(" / ")}): not a fair share`);
  }
  assert.equal(await world.redis.xlen(world.deadLetterStream), 0);
});
