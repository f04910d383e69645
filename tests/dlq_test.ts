/**
 * `db-writer dlq list | replay | purge` through the real CLI against real
 * Redis, each test in its own world (streams deleted afterwards).
 */
import assert from "node:assert/strict";
import { createWorld, runCli, type World } from "./helpers.ts";
import { deadLetterFields } from "../src/source/dead_letter.ts";
import { fieldsToObject } from "../src/source/redis.ts";
import type { StreamEntry } from "../src/reading.ts";

/** Original entries as the service would have rejected them (one with clashing field names). */
function originals(world: World): (StreamEntry & { reason: string })[] {
  return [
    {
      stream: `${world.prefix}:esp32-01:temperature`,
      id: "1700000000000-0",
      fields: { value: "n/a", timestamp: "2026-11-28T10:00:00.123456", metadata: '{"rssi":-61}' },
      reason: 'value "n/a" is not a finite decimal number',
    },
    {
      stream: `${world.prefix}:ingestion`,
      id: "1700000000001-0",
      fields: { device_id: "esp32-02", metric: "humidity", value: "45", timestamp: "yesterday", error: "E42" },
      reason: 'timestamp "yesterday" is not a valid ISO 8601 date-time',
    },
  ];
}

/** XADDs one dead letter per original, shaped by deadLetterFields(); returns their ids in order. */
async function seedDeadLetters(world: World, entries = originals(world)): Promise<string[]> {
  const ids: string[] = [];
  for (const e of entries) {
    const flat = deadLetterFields({ entry: e, reason: e.reason }, 1_732_788_000_000);
    ids.push(String(await world.redis.xadd(world.deadLetterStream, "*", ...flat)));
  }
  return ids;
}

async function streamEntries(world: World, stream: string): Promise<{ id: string; fields: Record<string, string> }[]> {
  const raw = await world.redis.xrange(stream, "-", "+");
  return raw.map(([id, flat]) => ({ id, fields: fieldsToObject(flat) }));
}

function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as Record<string, unknown>);
}

Deno.test("dlq list prints each dead letter with its original fields", async (t) => {
  await using world = await createWorld();

  await t.step("empty stream: nothing on stdout, exit 0", async () => {
    const r = await runCli(["dlq", "list"], world.env());
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "");
  });

  const ids = await seedDeadLetters(world);
  const [a, b] = originals(world);

  await t.step("all of them, oldest first", async () => {
    const r = await runCli(["dlq", "list", "--json"], world.env());
    assert.equal(r.code, 0, r.stderr);
    const lines = jsonLines(r.stdout);
    assert.deepEqual(lines, [
      {
        id: ids[0],
        original_stream: a!.stream,
        original_id: a!.id,
        error: a!.reason,
        failed_at: 1732788000,
        fields: a!.fields,
      },
      {
        id: ids[1],
        original_stream: b!.stream,
        original_id: b!.id,
        error: b!.reason,
        failed_at: 1732788000,
        fields: b!.fields,
      },
    ]);
    assert.match(r.stderr, /2 of 2 dead letter/);
  });

  await t.step("--count limits to the oldest N", async () => {
    const r = await runCli(["dlq", "list", "--count", "1"], world.env());
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(jsonLines(r.stdout).map((l) => l.id), [ids[0]]);
  });

  await t.step("a bad --count is a usage error", async () => {
    const r = await runCli(["dlq", "list", "--count", "0"], world.env());
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--count must be a whole number 1 or more, got "0"/);
  });
});

Deno.test("dlq replay puts the exact original fields back and removes the dead letters", async () => {
  await using world = await createWorld();
  const ids = await seedDeadLetters(world);
  const [a, b] = originals(world);

  const r = await runCli(["dlq", "replay"], world.env());
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^replayed 2, skipped 0$/m);

  const onA = await streamEntries(world, a!.stream);
  const onB = await streamEntries(world, b!.stream);
  assert.deepEqual(onA.map((e) => e.fields), [a!.fields]);
  assert.deepEqual(onB.map((e) => e.fields), [b!.fields]);
  // Field order is kept too, so the replayed entry is the original one byte for byte.
  assert.deepEqual((await world.redis.xrange(b!.stream, "-", "+"))[0]![1], Object.entries(b!.fields).flat());
  assert.notEqual(onA[0]!.id, a!.id, "a replay is a new entry");
  assert.equal(await world.redis.xlen(world.deadLetterStream), 0);
  assert.ok(!ids.includes(onA[0]!.id));
});

Deno.test("dlq replay selects by --id and --count, and reports what it skips", async (t) => {
  await using world = await createWorld();
  const ids = await seedDeadLetters(world);
  const [a, b] = originals(world);

  await t.step("--dry-run changes nothing", async () => {
    const before = await streamEntries(world, world.deadLetterStream);
    const r = await runCli(["dlq", "replay", "--dry-run"], world.env());
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /would replay .* to /);
    assert.match(r.stdout, /replayed 2, skipped 0$/m);
    assert.deepEqual(await streamEntries(world, world.deadLetterStream), before);
    assert.equal(await world.redis.exists(a!.stream, b!.stream), 0);
  });

  await t.step("--id replays just that one; an unknown id is reported and fails", async () => {
    const r = await runCli(["dlq", "replay", "--id", ids[1]!, "--id", "1-1"], world.env());
    assert.equal(r.code, 1);
    assert.match(r.stderr, /skipped 1-1: no such dead letter/);
    assert.match(r.stdout, /^replayed 1, skipped 1$/m);
    assert.deepEqual((await streamEntries(world, b!.stream)).map((e) => e.fields), [b!.fields]);
    assert.deepEqual((await streamEntries(world, world.deadLetterStream)).map((e) => e.id), [ids[0]]);
  });

  await t.step("--count takes the oldest N", async () => {
    await seedDeadLetters(world);
    const r = await runCli(["dlq", "replay", "--count", "2"], world.env());
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^replayed 2, skipped 0$/m);
    assert.equal(await world.redis.xlen(world.deadLetterStream), 1);
    assert.equal(await world.redis.xlen(a!.stream), 2);
  });

  await t.step("refuses a letter without original_stream or pointing at the dead-letter stream", async () => {
    await world.redis.del(world.deadLetterStream);
    const loop = await world.redis.xadd(
      world.deadLetterStream,
      "*",
      ...deadLetterFields(
        { entry: { stream: world.deadLetterStream, id: "1-0", fields: { value: "1" } }, reason: "x" },
        0,
      ),
    );
    const orphan = await world.redis.xadd(world.deadLetterStream, "*", "error", "lost", "value", "3");
    const r = await runCli(["dlq", "replay"], world.env());
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^replayed 0, skipped 2$/m);
    assert.match(r.stderr, new RegExp(`skipped ${loop}: its original_stream is the dead-letter stream`));
    assert.match(r.stderr, new RegExp(`skipped ${orphan}: it has no original_stream`));
    assert.equal(await world.redis.xlen(world.deadLetterStream), 2, "refused letters stay");
  });

  await t.step("--count with --id, or a malformed id, is a usage error", async () => {
    let r = await runCli(["dlq", "replay", "--count", "1", "--id", ids[0]!], world.env());
    assert.equal(r.code, 2);
    assert.match(r.stderr, /either --count N .* or --id/);
    r = await runCli(["dlq", "replay", "--id", "abc"], world.env());
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--id must be a stream entry id like 1700000000000-0, got "abc"/);
  });
});

Deno.test("dlq purge deletes the given dead letters, or all of them", async (t) => {
  await using world = await createWorld();
  const ids = await seedDeadLetters(world);

  await t.step("without --all or --id: exit 2 naming both", async () => {
    const r = await runCli(["dlq", "purge"], world.env());
    assert.equal(r.code, 2);
    assert.match(r.stderr, /dlq purge: say what to delete: --all .* or --id ID/);
    assert.equal(await world.redis.xlen(world.deadLetterStream), 2);
  });

  await t.step("--id", async () => {
    const r = await runCli(["dlq", "purge", "--id", ids[0]!], world.env());
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "purged 1");
    assert.deepEqual((await streamEntries(world, world.deadLetterStream)).map((e) => e.id), [ids[1]]);
  });

  await t.step("--id of an unknown entry is reported, exit 1", async () => {
    const r = await runCli(["dlq", "purge", "--id", ids[0]!], world.env());
    assert.equal(r.code, 1);
    assert.equal(r.stdout.trim(), "purged 0");
    assert.match(r.stderr, /no such dead letter/);
  });

  await t.step("--all", async () => {
    await seedDeadLetters(world);
    const r = await runCli(["dlq", "purge", "--all"], world.env());
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "purged 3");
    assert.equal(await world.redis.xlen(world.deadLetterStream), 0);
  });

  await t.step("unknown subcommand or flag: exit 2", async () => {
    let r = await runCli(["dlq", "drop"], world.env());
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown subcommand "drop"; expected list, replay or purge/);
    r = await runCli(["dlq", "purge", "--everything"], world.env());
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Unknown option '--everything'/);
  });
});
