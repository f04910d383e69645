/**
 * Hostile input (issue 7, part 3), end to end: a few thousand seeded hostile
 * entries, good ones among them, sent as raw bytes (invalid UTF-8, NUL, huge
 * values, thousands of fields) to real Redis while the real service runs as a
 * subprocess. The service stays up; every entry ends as exactly one row or one
 * dead letter with a non-empty reason decided at the first delivery; every
 * good one is a row; every dead letter rebuilds its entry as Redis holds it;
 * nothing is left pending. TEST_SEED overrides the seed (part of the test name).
 */
import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import { Buffer } from "node:buffer";
import { createWorld } from "../_helpers/world.ts";
import { message, spawnService, stopService } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { entryKey, rowStats, storedKeys, tail, totalPending } from "../_helpers/faults.ts";
import { generateMessages } from "../_helpers/fuzz.ts";
import { testSeed } from "../_helpers/random.ts";
import { fieldsToObject } from "../../src/source/fields.ts";
import { originalFields } from "../../src/dead_letters/format.ts";

const SEED = testSeed();
const COUNT = Number(Deno.env.get("FUZZ_E2E_COUNT") ?? 3000);
const START_MS = 60_000;
const SETTLE_MS = 240_000;

/** Every entry of a stream as the service's Redis client decodes it. */
async function entriesOf(redis: Redis, stream: string): Promise<Map<string, Record<string, string>>> {
  const out = new Map<string, Record<string, string>>();
  let from = "-";
  while (true) {
    const page = (await redis.xrange(stream, from, "+", "COUNT", 500)) as [string, string[]][];
    for (const [id, flat] of page) out.set(id, fieldsToObject(flat));
    if (page.length < 500) return out;
    from = `(${page[page.length - 1]![0]}`;
  }
}

Deno.test(`fuzz end to end (seed ${SEED}, ${COUNT} entries): the service survives, every entry a row or a dead letter with a reason`, async () => {
  await using world = await createWorld();
  await using svc = spawnService(["run"], world.env({ CONSUMER_NAME: "fuzz-worker" }));
  await svc.waitForLog(message("consuming"), START_MS);

  const streams = [
    `${world.prefix}:dev-a:temperature`,
    `${world.prefix}:dev-b:env:humidity`,
    `${world.prefix}:dev-c:co2`,
    `${world.prefix}:ingest`, // names no device or sensor: only messages that carry both fields are rows
  ];
  const messages = generateMessages(SEED ^ 0xe2e, COUNT);
  const sent = new Map<string, { stream: string; good: boolean; kind: string }>();
  for (let start = 0; start < messages.length; start += 100) {
    const chunk = messages.slice(start, start + 100);
    const pipe = world.redis.pipeline();
    chunk.forEach((m, k) => {
      const args = m.fields.flatMap(([name, value]) =>
        [name, value].map((x) => typeof x === "string" ? x : Buffer.from(x))
      );
      pipe.xadd(streams[(start + k) % streams.length]!, "*", ...args);
    });
    const results = (await pipe.exec()) ?? [];
    results.forEach(([err, id], k) => {
      if (err) throw err;
      const m = chunk[k]!;
      const stream = streams[(start + k) % streams.length]!;
      // A good message on the shared stream needs its own device and sensor fields.
      const named = m.fields.some(([n]) => n === "device_id") &&
        m.fields.some(([n]) => n === "sensor_type" || n === "metric");
      sent.set(entryKey(stream, String(id)), {
        stream,
        good: m.good && (!stream.endsWith(":ingest") || named),
        kind: m.kind,
      });
    });
  }

  try {
    await waitFor(async () => {
      if ((await totalPending(world.redis, streams, world.group)) > 0) return false;
      const { distinct } = await rowStats(world);
      return distinct + (await world.redis.xlen(world.deadLetterStream)) >= sent.size;
    }, { timeoutMs: SETTLE_MS, what: `${sent.size} entries stored or dead-lettered, nothing pending` });
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${tail(svc)}`);
  }

  // Still running: no crash along the way.
  const exited = await Promise.race([svc.status.then(() => true), new Promise((r) => setTimeout(() => r(false), 200))]);
  assert.equal(exited, false, `the service exited\n${tail(svc)}`);

  const { rows, distinct } = await rowStats(world);
  assert.equal(rows, distinct, "no entry stored twice");
  const stored = await storedKeys(world);
  const dead = [...(await entriesOf(world.redis, world.deadLetterStream)).values()];
  assert.equal(stored.size + dead.length, sent.size, `rows ${stored.size} + dead letters ${dead.length} = entries`);
  assert.equal(await totalPending(world.redis, streams, world.group), 0, "nothing pending");

  const originals = new Map<string, Record<string, string>>();
  for (const s of streams) for (const [id, f] of await entriesOf(world.redis, s)) originals.set(entryKey(s, id), f);
  const deadKeys = new Set<string>();
  for (const d of dead) {
    const key = entryKey(d.original_stream ?? "", d.original_id ?? "");
    assert.ok(sent.has(key), `a dead letter for an entry that was not sent: ${key}`);
    assert.ok(!stored.has(key), `${key} (${sent.get(key)!.kind}) is both a row and a dead letter`);
    assert.ok(!deadKeys.has(key), `${key} dead-lettered twice`);
    deadKeys.add(key);
    const reason = d.error ?? "";
    assert.ok(reason.trim() !== "", `${key} (${sent.get(key)!.kind}): dead letter without a reason`);
    // Decided at the first delivery, by the decoder: no poison loop, no database round trip, no decoder failure.
    assert.doesNotMatch(reason, /delivered \d+ times|database refused|could not be decoded/, `${key}: ${reason}`);
    assert.ok(!sent.get(key)!.good, `${key}: a good message (${sent.get(key)!.kind}) was dead-lettered: ${reason}`);
    assert.deepEqual(
      Object.entries(originalFields(d)),
      Object.entries(originals.get(key)!),
      `${key} (${sent.get(key)!.kind}): the dead letter does not rebuild the entry`,
    );
  }
  for (const [key, s] of sent) {
    if (s.good) assert.ok(stored.has(key), `${key}: a good message (${s.kind}) is not a row`);
  }
  assert.ok(
    stored.size > COUNT / 5 && dead.length > COUNT / 5,
    `both outcomes: ${stored.size} rows, ${dead.length} dead`,
  );

  const errors = svc.records().filter((r) => r.level === "ERROR");
  assert.deepEqual(errors, [], "no errors logged");
  assert.equal(await stopService(svc, 30_000), 0, `clean exit\n${tail(svc)}`);
});
