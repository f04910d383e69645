/**
 * `db-writer dlq list | replay | purge` through the real CLI against real
 * Redis, each test in its own world (streams deleted afterwards).
 */
import assert from "node:assert/strict";
import { addEntries } from "../_helpers/streams.ts";
import { createWorld, type World } from "../_helpers/world.ts";
import { runCli, spawnService } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { rowCounts, tableRows } from "../_helpers/rows.ts";
import { deadLetterFields } from "../../src/dead_letters/format.ts";
import { fieldsToObject } from "../../src/source/fields.ts";
import type { StreamEntry } from "../../src/ports.ts";
import { parseBefore, parsePurge } from "../../src/cli/dlq/purge.ts";

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

  await t.step("--limit (or its alias --count) takes the oldest N", async () => {
    for (const flag of ["--limit", "--count"]) {
      const r = await runCli(["dlq", "list", flag, "1", "--json"], world.env());
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(jsonLines(r.stdout).map((l) => l.id), [ids[0]]);
      assert.match(r.stderr, /1 of 2 dead letter/);
    }
  });

  await t.step("without --json: one readable line per dead letter", async () => {
    const r = await runCli(["dlq", "list"], world.env());
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    assert.equal(lines.length, 2);
    assert.equal(
      lines[0],
      `${ids[0]}  2024-11-28T10:00:00.000Z  ${a!.stream} ${a!.id}  error: ${a!.reason}  fields: ${
        JSON.stringify(a!.fields)
      }`,
    );
  });

  await t.step("a bad --limit, or both spellings, is a usage error", async () => {
    let r = await runCli(["dlq", "list", "--limit", "0"], world.env());
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--limit must be a whole number 1 or more, got "0"/);
    r = await runCli(["dlq", "list", "--limit", "1", "--count", "1"], world.env());
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--count is an alias of --limit/);
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

  await t.step("a dead letter whose re-add fails stays, and is reported", async () => {
    await world.redis.del(world.deadLetterStream);
    const [letter] = await seedDeadLetters(world, [originals(world)[0]!]);
    await world.redis.del(a!.stream);
    await world.redis.set(a!.stream, "not a stream");
    const r = await runCli(["dlq", "replay", "--all"], world.env());
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`skipped ${letter}: adding it to .* failed: .*WRONGTYPE`));
    assert.match(r.stdout, /^replayed 0, skipped 1$/m);
    assert.deepEqual((await streamEntries(world, world.deadLetterStream)).map((e) => e.id), [letter]);
    await world.redis.del(a!.stream);
  });

  await t.step("two selections at once, or a malformed id, is a usage error", async () => {
    for (const args of [["--count", "1", "--id", ids[0]!], ["--all", "--id", ids[0]!], ["--all", "--limit", "2"]]) {
      const r = await runCli(["dlq", "replay", ...args], world.env());
      assert.equal(r.code, 2, args.join(" "));
      assert.match(r.stderr, /give only one of --all .*, --limit N .* and --id ID/);
    }
    const r = await runCli(["dlq", "replay", "--id", "abc"], world.env());
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--id must be a stream entry id like 1700000000000-0, got "abc"/);
  });
});

Deno.test("dlq purge deletes the given dead letters, or all of them", async (t) => {
  await using world = await createWorld();
  const ids = await seedDeadLetters(world);

  await t.step("without --all, --before or --id: exit 2 naming them", async () => {
    const r = await runCli(["dlq", "purge"], world.env());
    assert.equal(r.code, 2);
    assert.match(r.stderr, /dlq purge: say what to delete: --all .*, --before TIME .* or --id ID/);
    assert.equal(await world.redis.xlen(world.deadLetterStream), 2);
  });

  await t.step("without --yes and no terminal to ask: exit 2, nothing deleted", async () => {
    const r = await runCli(["dlq", "purge", "--all"], world.env());
    assert.equal(r.code, 2);
    assert.match(r.stderr, /not on a terminal, so cannot ask: add --yes to delete every dead letter \(2\)/);
    assert.equal(await world.redis.xlen(world.deadLetterStream), 2);
  });

  await t.step("--id", async () => {
    const r = await runCli(["dlq", "purge", "--id", ids[0]!, "--yes"], world.env());
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "purged 1");
    assert.deepEqual((await streamEntries(world, world.deadLetterStream)).map((e) => e.id), [ids[1]]);
  });

  await t.step("--id of an unknown entry is reported, exit 1", async () => {
    const r = await runCli(["dlq", "purge", "--id", ids[0]!, "-y"], world.env());
    assert.equal(r.code, 1);
    assert.equal(r.stdout.trim(), "purged 0");
    assert.match(r.stderr, /no such dead letter/);
  });

  await t.step("--all", async () => {
    await seedDeadLetters(world);
    const r = await runCli(["dlq", "purge", "--all", "--yes"], world.env());
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "purged 3");
    assert.equal(await world.redis.xlen(world.deadLetterStream), 0);
  });

  await t.step("--before TIME deletes only older dead letters", async () => {
    await world.redis.del(world.deadLetterStream); // XTRIM kept its last id; older ids could not be added
    await world.redis.xadd(world.deadLetterStream, "1000000000000-0", "error", "old");
    await world.redis.xadd(world.deadLetterStream, "1100000000000-0", "error", "older than the cut");
    const recent = await world.redis.xadd(world.deadLetterStream, "*", "error", "new");
    let r = await runCli(["dlq", "purge", "--before", "2005-01-01", "--yes"], world.env());
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "purged 2");
    assert.deepEqual((await streamEntries(world, world.deadLetterStream)).map((e) => e.id), [recent]);
    r = await runCli(["dlq", "purge", "--before", "1h", "--yes"], world.env());
    assert.equal(r.stdout.trim(), "purged 0", "the recent one is younger than an hour");
    r = await runCli(["dlq", "purge", "--before", "last tuesday", "--yes"], world.env());
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--before must be a date-time like .* or an age like 7d, 12h, 30m; got "last tuesday"/);
    r = await runCli(["dlq", "purge", "--before", "1h", "--all"], world.env());
    assert.equal(r.code, 2);
    assert.match(r.stderr, /give only one of --all, --before TIME and --id/);
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

Deno.test("parseBefore: dates, date-times with and without offset, ages", () => {
  const now = Date.parse("2026-11-28T12:00:00Z");
  assert.equal(parseBefore("2026-11-28", now), Date.parse("2026-11-28T00:00:00Z"));
  assert.equal(parseBefore("2026-11-28T10:00:00", now), Date.parse("2026-11-28T10:00:00Z"));
  assert.equal(parseBefore("2026-11-28 10:00", now), Date.parse("2026-11-28T10:00:00Z"));
  assert.equal(parseBefore("2026-11-28T10:00:00+02:00", now), Date.parse("2026-11-28T08:00:00Z"));
  assert.equal(parseBefore("7d", now), now - 7 * 86_400_000);
  assert.equal(parseBefore("12h", now), now - 12 * 3_600_000);
  assert.equal(parseBefore("30m", now), now - 30 * 60_000);
  for (const bad of ["", "7", "7 days ago", "2026-13-45", "tomorrow"]) {
    assert.throws(() => parseBefore(bad, now), /--before must be/, bad);
  }
});

Deno.test("dlq purge asks first: a no deletes nothing, a yes deletes", async () => {
  await using world = await createWorld();
  await seedDeadLetters(world);
  const questions: string[] = [];
  const no = parsePurge(["--all"], { confirm: (q) => (questions.push(q), false) });
  assert.equal(await no(world.redis, world.deadLetterStream), 1);
  assert.equal(await world.redis.xlen(world.deadLetterStream), 2);
  assert.equal(questions[0], `Delete every dead letter (2) from ${world.deadLetterStream}?`);
  const yes = parsePurge(["--all"], { confirm: () => true });
  assert.equal(await yes(world.redis, world.deadLetterStream), 0);
  assert.equal(await world.redis.xlen(world.deadLetterStream), 0);
});

Deno.test("dlq round trip: refused by the table → dead letter → table fixed → replayed → row", async () => {
  await using world = await createWorld();
  const env = world.env();
  const migrated = await runCli(["migrate", "up"], env);
  assert.equal(migrated.code, 0, migrated.stderr);
  await world.sql.unsafe(`ALTER TABLE ${world.table} ADD CONSTRAINT value_below_100 CHECK (value < 100)`);
  await using svc = spawnService(["run"], env);
  await svc.waitForLog((r) => r.message === "consuming", 30_000);

  const stream = `${world.prefix}:boiler-1:temperature`;
  const original = { value: "180.5", timestamp: "2026-11-28T10:00:00.250000", metadata: '{"site":"b"}' };
  await addEntries(world.redis, stream, [original, { value: "20", timestamp: "2026-11-28T10:00:01Z" }]);
  await waitFor(async () => (await world.redis.xlen(world.deadLetterStream)) === 1, {
    timeoutMs: 20_000,
    what: "one dead letter",
  });
  await waitFor(async () => (await rowCounts(world)).rows === 1, { timeoutMs: 20_000, what: "the good row" });

  const listed = await runCli(["dlq", "list", "--json"], env);
  const [letter] = jsonLines(listed.stdout);
  assert.equal(letter?.original_stream, stream);
  assert.match(String(letter?.error), /value_below_100/);
  assert.deepEqual(letter?.fields, original);

  // The operator decides the limit was wrong, fixes the table and replays.
  await world.sql.unsafe(`ALTER TABLE ${world.table} DROP CONSTRAINT value_below_100`);
  const replay = await runCli(["dlq", "replay", "--all"], env);
  assert.equal(replay.code, 0, replay.stderr);
  assert.match(replay.stdout, /^replayed 1, skipped 0$/m);

  await waitFor(async () => (await tableRows(world, "value > 100")).length === 1, {
    timeoutMs: 20_000,
    what: "the replayed row",
  });
  const rows = await tableRows(world, "value > 100");
  assert.equal(rows[0]!.utc, "2026-11-28T10:00:00.250000");
  assert.equal(rows[0]!.value, 180.5);
  assert.deepEqual(rows[0]!.metadata, { site: "b" });
  assert.equal(await world.redis.xlen(world.deadLetterStream), 0);
  assert.equal((await rowCounts(world)).rows, 2);
  svc.kill("SIGTERM");
  assert.equal((await svc.status).code, 0);
});
