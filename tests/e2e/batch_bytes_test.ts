/**
 * Batches bounded by bytes as well as by count, against the real service
 * (with the start task's heap bound), Redis and PostgreSQL: BATCH_SIZE=2000
 * with entries of about 60 KB runs through a backlog without running out of
 * heap, every entry stored once.
 */
import assert from "node:assert/strict";
import { spawnService } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { createWorld } from "../_helpers/world.ts";
import { rowStats, tail, totalPending } from "../_helpers/faults.ts";

Deno.test("batch bytes: BATCH_SIZE=2000 with 60 KB entries drains a backlog within the heap", async () => {
  await using world = await createWorld();
  const stream = `${world.prefix}:dev1:temperature`;
  const total = 1500;
  const blob = "x".repeat(60_000);
  for (let from = 0; from < total; from += 100) {
    const pipe = world.redis.pipeline();
    for (let i = from; i < Math.min(total, from + 100); i++) {
      pipe.xadd(
        stream,
        "*",
        "value",
        String(i),
        "timestamp",
        new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
        "metadata",
        JSON.stringify({ seq: i, blob }),
      );
    }
    await pipe.exec();
  }
  await using svc = spawnService(
    ["run"],
    world.env({
      BATCH_SIZE: "2000",
      MAX_MESSAGE_BYTES: "70000",
      MAX_METADATA_BYTES: "65536",
    }),
  );
  try {
    await waitFor(
      async () => {
        const status = await Promise.race([svc.status, new Promise((r) => setTimeout(() => r(undefined), 10))]);
        if (status) throw new Error(`exited: ${JSON.stringify(status)}`);
        return (await rowStats(world)).distinct === total &&
          (await totalPending(world.redis, [stream], world.group)) === 0;
      },
      { timeoutMs: 180_000, what: `${total} rows` },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${tail(svc, 10)}\n${svc.errLines.slice(-5).join("\n")}`);
  }
  const { rows, distinct } = await rowStats(world);
  assert.equal(rows, total);
  assert.equal(distinct, total);
  assert.equal(await world.redis.xlen(world.deadLetterStream), 0);
});
