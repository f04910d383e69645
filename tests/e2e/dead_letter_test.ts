/**
 * Dead letters against real Redis and the service as a process: one dead
 * letter per original entry even when its group is deleted and re-created
 * (the stream read again from the start), and a dead letter that cannot be
 * written leaves its entry pending instead of acknowledging it.
 */
import assert from "node:assert/strict";
import { spawnService } from "../_helpers/process.ts";
import { addEntries, pendingCount } from "../_helpers/streams.ts";
import { waitFor } from "../_helpers/wait.ts";
import { createWorld, type World } from "../_helpers/world.ts";
import { logsWith, message, stopService } from "../_helpers/process.ts";
import { rowCounts } from "../_helpers/rows.ts";
import { lastDeliveredId } from "../_helpers/streams.ts";
import { DeadLetterWriter, markerKey } from "../../src/dead_letters/writer.ts";
import { keySlot } from "../../src/source/slot.ts";

const good = (i: number) => ({ value: String(i), timestamp: "2026-11-28T10:00:00Z" });
const bad = (i: number) => ({ value: `not a number ${i}`, timestamp: "2026-11-28T10:00:00Z" });

/** `n` entries, every `every`-th one bad; returns how many are bad. */
function mixed(n: number, every: number, from = 0): { entries: Record<string, string>[]; bad: number } {
  const entries = [];
  let b = 0;
  for (let i = from; i < from + n; i++) {
    if (i % every === 0) {
      entries.push(bad(i));
      b++;
    } else entries.push(good(i));
  }
  return { entries, bad: b };
}

/** Original ids of the dead letters, with how often each occurs. */
async function deadLetterIds(world: World): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const [, f] of await world.redis.xrange(world.deadLetterStream, "-", "+")) {
    const k = `${f[f.indexOf("original_stream") + 1]} ${f[f.indexOf("original_id") + 1]}`;
    out.set(k, (out.get(k) ?? 0) + 1);
  }
  return out;
}

/** True once the group has read every entry of each stream and has nothing pending. */
async function allHandled(world: World, streams: string[]): Promise<boolean> {
  for (const s of streams) {
    const [last] = await world.redis.xrevrange(s, "+", "-", "COUNT", 1);
    if ((await lastDeliveredId(world.redis, s, world.group)) !== last?.[0]) return false;
    if ((await pendingCount(world.redis, s, world.group)) !== 0) return false;
  }
  return true;
}

Deno.test("marker keys share the dead-letter stream's cluster slot", () => {
  // Not for a name holding `}` without a hash tag (`a{}b`, `x}y`): its whole name decides its slot, and no other key
  // can share it; there, in a cluster, dead letters go without markers.
  for (const k of ["mqtt_stream:failed", "{tag}failed", "a{b}c", "x{y", "{a}}b"]) {
    assert.equal(keySlot(markerKey(k)), keySlot(k), k);
  }
});

Deno.test("a group deleted and re-created from 0 under load: one dead letter per bad entry, every new one handled", async () => {
  await using world = await createWorld();
  const streams = [`${world.prefix}:d1:temp`, `${world.prefix}:d2:temp`];
  await using svc = spawnService(["run"], world.env({ BATCH_SIZE: "50" }));
  await svc.waitForLog(message("consuming"), 30_000);
  let goodCount = 0;
  let badCount = 0;
  for (const s of streams) {
    const m = mixed(300, 10);
    await addEntries(world.redis, s, m.entries);
    goodCount += m.entries.length - m.bad;
    badCount += m.bad;
  }
  // While the first entries are still being consumed, the group is deleted on both streams…
  await waitFor(async () => (await rowCounts(world)).rows > 0, { timeoutMs: 20_000, what: "first rows" });
  for (const s of streams) await world.redis.xgroup("DESTROY", s, world.group);
  // …and more entries, good and bad, arrive after that.
  for (const s of streams) {
    const m = mixed(100, 5, 1000);
    await addEntries(world.redis, s, m.entries);
    goodCount += m.entries.length - m.bad;
    badCount += m.bad;
  }
  await waitFor(async () => await allHandled(world, streams), {
    timeoutMs: 60_000,
    what: "every entry read again and handled",
  });
  const counts = await rowCounts(world);
  assert.equal(counts.distinct, goodCount, "every good entry has a row");
  assert.equal(counts.rows, goodCount, "and only one");
  const dead = await deadLetterIds(world);
  assert.equal(dead.size, badCount, "every bad entry has a dead letter");
  assert.deepEqual([...dead.values()].filter((n) => n > 1), [], "and only one");
  assert.equal(await world.redis.xlen(world.deadLetterStream), badCount);
  assert.equal(await stopService(svc), 0);
});

Deno.test("the writer: an entry read again after a group reset is acked, not dead-lettered twice; a new one is", async () => {
  await using world = await createWorld();
  const stream = `${world.prefix}:dev:temp`;
  const ids = await addEntries(world.redis, stream, [bad(1), bad(2)]);
  await world.redis.xgroup("CREATE", stream, world.group, "0");
  await world.redis.xreadgroup("GROUP", world.group, "me", "COUNT", 10, "STREAMS", stream, ">");
  const writer = new DeadLetterWriter(world.redis, { stream: world.deadLetterStream, group: world.group, maxLen: 0 });
  const letter = (id: string) => ({ entry: { stream, id, fields: bad(0) }, reason: "bad", class: "other" as const });
  assert.deepEqual(await writer.send([letter(ids[0]!)]), [true]);
  await world.redis.xgroup("DESTROY", stream, world.group);
  await world.redis.xgroup("CREATE", stream, world.group, "0");
  await world.redis.xreadgroup("GROUP", world.group, "me", "COUNT", 10, "STREAMS", stream, ">");
  assert.deepEqual(await writer.send(ids.map(letter)), [false, true]);
  assert.equal(await world.redis.xlen(world.deadLetterStream), 2);
  assert.equal(await pendingCount(world.redis, stream, world.group), 0, "both acknowledged");
});

Deno.test("the markers are trimmed with the dead-letter stream (DEAD_LETTER_MAXLEN bounds both)", async () => {
  await using world = await createWorld();
  const stream = `${world.prefix}:dev:temp`;
  const ids = await addEntries(world.redis, stream, Array.from({ length: 30 }, (_, i) => bad(i)));
  await world.redis.xgroup("CREATE", stream, world.group, "0");
  await world.redis.xreadgroup("GROUP", world.group, "me", "COUNT", 100, "STREAMS", stream, ">");
  const writer = new DeadLetterWriter(world.redis, { stream: world.deadLetterStream, group: world.group, maxLen: 10 });
  await writer.send(ids.map((id) => ({ entry: { stream, id, fields: bad(0) }, reason: "bad", class: "other" })));
  assert.equal(await world.redis.zcard(markerKey(world.deadLetterStream)), 10);
});

Deno.test("a dead-letter key of the wrong type: bad entries stay pending (logged once, naming the key), then recover", async () => {
  await using world = await createWorld();
  await world.redis.set(world.deadLetterStream, "x");
  const stream = `${world.prefix}:d1:temp`;
  await using svc = spawnService(
    ["run"],
    world.env({ CLAIM_MIN_IDLE_MS: "300", BATCH_SIZE: "10", MAX_DELIVERIES: "1" }),
  );
  await svc.waitForLog(message("consuming"), 30_000);
  const m = mixed(40, 4);
  await addEntries(world.redis, stream, m.entries);
  await waitFor(async () => (await rowCounts(world)).rows === 40 - m.bad, { timeoutMs: 20_000, what: "the good rows" });
  await svc.waitForLog((r) => String(r.message).startsWith("cannot write dead letters"), 20_000);
  // Long enough for the idle bad entries to be claimed and retried a few times.
  await new Promise((r) => setTimeout(r, 2_000));
  assert.equal(await world.redis.type(world.deadLetterStream), "string", "the key was left alone");
  assert.equal(await pendingCount(world.redis, stream, world.group), m.bad, "every bad entry is still pending");
  const errors = svc.records().filter((r) => String(r.message).startsWith("cannot write dead letters"));
  assert.equal(errors.length, 1, `logged once: ${JSON.stringify(errors)}`);
  assert.match(String(errors[0]!.error), new RegExp(`"${world.deadLetterStream}".*WRONGTYPE`));
  assert.equal(logsWith(svc, "entries dead-lettered").length, 0);

  await world.redis.del(world.deadLetterStream);
  await waitFor(async () => (await pendingCount(world.redis, stream, world.group)) === 0, {
    timeoutMs: 30_000,
    what: "nothing pending",
  });
  assert.equal((await deadLetterIds(world)).size, m.bad, "each bad entry dead-lettered once");
  for (const [, f] of await world.redis.xrange(world.deadLetterStream, "-", "+")) {
    // Claimed again meanwhile, past MAX_DELIVERIES=1: the reason still says what was wrong with the entry.
    assert.match(f[f.indexOf("error") + 1]!, /MAX_DELIVERIES=1\); last error: value/);
  }
  assert.equal(await world.redis.xlen(world.deadLetterStream), m.bad);
  assert.equal(await stopService(svc), 0);
});
