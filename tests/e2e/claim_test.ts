/**
 * Slow batches and two instances, against the real service, Redis and
 * PostgreSQL: every write takes longer than CLAIM_MIN_IDLE_MS (a statement
 * trigger that sleeps), yet no instance takes over the other's batch while it
 * is being written. Counted: every entry stored exactly once, none both
 * stored and dead-lettered, no dead letters, nothing left pending.
 */
import assert from "node:assert/strict";
import { spawnService } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { createWorld } from "../_helpers/world.ts";
import { deadLetters, fillBacklog, rowStats, tail, totalPending } from "../_helpers/faults.ts";

const isMessage = (m: string) => (r: Record<string, unknown>) => r.message === m;

Deno.test("claim: batches slower than CLAIM_MIN_IDLE_MS are not stolen by a second instance", async () => {
  await using world = await createWorld();
  const env = (name: string) =>
    world.env({
      CONSUMER_NAME: name,
      CLAIM_MIN_IDLE_MS: "400",
      // A stolen entry arrives as its second delivery: dead-lettered at once unless already stored.
      MAX_DELIVERIES: "1",
      BATCH_SIZE: "40",
      WRITE_TIMEOUT_SEC: "30",
      WRITE_CONCURRENCY: "1",
    });
  await using a = spawnService(["run"], env("slow-a"));
  await a.waitForLog(isMessage("schema up to date"), 60_000);
  // Every statement that inserts waits 1.2 s: three times CLAIM_MIN_IDLE_MS.
  await world.sql.unsafe(`
    CREATE FUNCTION "${world.schema}".slow() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_sleep(1.2); RETURN NULL; END $$;
    CREATE TRIGGER slow BEFORE INSERT ON ${world.table}
      FOR EACH STATEMENT EXECUTE FUNCTION "${world.schema}".slow();`);
  await using b = spawnService(["run"], env("slow-b"));
  await b.waitForLog(isMessage("consuming"), 60_000);
  const backlog = await fillBacklog(world.redis, world.prefix, { total: 240, streamCount: 4 });

  try {
    await waitFor(
      async () => {
        const pending = await totalPending(world.redis, backlog.streams, world.group);
        const { distinct } = await rowStats(world);
        const dead = await world.redis.xlen(world.deadLetterStream);
        return pending === 0 && distinct + dead >= 240;
      },
      { timeoutMs: 120_000, what: "every entry stored or dead-lettered, nothing pending" },
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${tail(a, 15)}\n---\n${tail(b, 15)}`);
  }
  const { rows, distinct } = await rowStats(world);
  const dead = await deadLetters(world);
  const stored = new Set(
    (await world.sql.unsafe(`SELECT source_stream || ' ' || source_id AS k FROM ${world.table}`)).map((r) =>
      String(r.k)
    ),
  );
  const claims = [...a.records(), ...b.records()].filter((r) => /claimed|re-reading/.test(String(r.message)));
  const both = dead.filter((d) => stored.has(`${d.original_stream} ${d.original_id}`));
  assert.equal(
    both.length,
    0,
    `${both.length} entries both stored and dead-lettered; claims: ${JSON.stringify(claims)}`,
  );
  assert.equal(dead.length, 0, `${dead.length} dead letters; claims: ${JSON.stringify(claims)}`);
  assert.equal(distinct, 240, "every entry stored");
  assert.equal(rows, 240, "none stored twice");
  const claimed = [...a.records(), ...b.records()].filter(isMessage("claimed idle pending entries"));
  assert.equal(claimed.length, 0, "no instance claimed the other's entries");
});
