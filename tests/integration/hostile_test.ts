/**
 * Hostile input (issue 7, part 3), below the service: the caps, each with its
 * own reason; a seeded fuzz of thousands of field maps through the decoder
 * (never throws, every entry a sound reading or a one-line reason); the
 * dead-letter fields of every one rebuild the original exactly; and every
 * reading the decoder accepts is stored by the real writer in PostgreSQL,
 * which refuses none of them. TEST_SEED and FUZZ_COUNT override the defaults;
 * the seed is part of each fuzz test's name.
 */
import assert from "node:assert/strict";
import { decode, MAX_NAME_LENGTH } from "../../src/decode/decode.ts";
import type { StreamEntry } from "../../src/ports.ts";
import { type DecodeLimits, DEFAULT_LIMITS, jsonTextProblem, utf8Length } from "../../src/decode/limits.ts";
import { deadLetterFields, originalFields, PACK_ABOVE_FIELDS } from "../../src/dead_letters/format.ts";
import { fieldsToObject } from "../../src/source/fields.ts";
import { PostgresSink } from "../../src/sink/writer.ts";
import { loadMigrations } from "../../src/sink/migrations/files.ts";
import { Migrator } from "../../src/sink/migrations/runner.ts";
import { Buffer } from "node:buffer";
import { StreamDiscovery } from "../../src/source/discovery.ts";
import { createWorld } from "../_helpers/world.ts";
import { silentLogger } from "../_helpers/logger.ts";
import { asEntryFields, generateMessages } from "../_helpers/fuzz.ts";
import { testSeed } from "../_helpers/random.ts";

const SEED = testSeed();
const COUNT = Number(Deno.env.get("FUZZ_COUNT") ?? 5000);
const TS = "2026-11-28T10:00:00Z";

function entry(fields: Record<string, string>, stream = "mqtt_stream:dev-1:temperature", id = "1-0"): StreamEntry {
  return { stream, id, fields };
}

function reasonOf(fields: Record<string, string>, limits?: DecodeLimits, stream?: string): string {
  const d = decode(entry(fields, stream), limits);
  assert.equal(d.ok, false, `expected a rejection of ${JSON.stringify(fields).slice(0, 200)}`);
  return (d as { reason: string }).reason;
}

Deno.test("caps: each violation has its own reason naming the setting", async (t) => {
  const small: DecodeLimits = { maxMessageBytes: 300, maxMessageFields: 6, maxMetadataBytes: 40, maxMetadataDepth: 3 };
  const base = { value: "1", timestamp: TS };
  const cases: [string, Record<string, string>, RegExp][] = [
    ["too many fields", { ...base, a: "", b: "", c: "", d: "", e: "" }, /7 fields; at most 6 .*MAX_MESSAGE_FIELDS/],
    [
      "too many bytes (ASCII)",
      { ...base, blob: "x".repeat(400) },
      /at least 4\d\d bytes .*at most 300 .*MAX_MESSAGE_BYTES/,
    ],
    // 120 three-byte characters: 120 UTF-16 units but 360 bytes, counted exactly.
    ["too many bytes (UTF-8)", { ...base, blob: "€".repeat(120) }, /message is 3\d\d bytes .*MAX_MESSAGE_BYTES/],
    [
      "metadata too big",
      { ...base, metadata: JSON.stringify({ k: "y".repeat(50) }) },
      /metadata is .*bytes; at most 40 .*MAX_METADATA_BYTES/,
    ],
    ["metadata too deep", { ...base, metadata: '{"a":{"b":{"c":{}}}}' }, /deeper than 3 levels \(MAX_METADATA_DEPTH\)/],
    ["metadata too deep in an array", { ...base, metadata: '{"a":[[[1]]]}' }, /deeper than 3 levels/],
  ];
  for (const [name, fields, reason] of cases) {
    await t.step(name, () => assert.match(reasonOf(fields, small), reason));
  }
  await t.step("at the caps exactly: accepted", () => {
    const fields = { ...base, metadata: '{"a":{"b":[]}}', pad: "" };
    const bytes = Object.entries(fields).reduce((n, [k, v]) => n + k.length + v.length, 0);
    const d = decode(entry(fields), { ...small, maxMessageBytes: bytes, maxMessageFields: 4 });
    assert.ok(d.ok, JSON.stringify(d));
  });
  await t.step("brackets and escapes inside strings are not nesting", () => {
    const d = decode(entry({ ...base, metadata: '{"a":"[[[{{{\\"\\\\","b":{"c":1}}' }), small);
    assert.ok(d.ok, JSON.stringify(d));
  });
  await t.step("defaults: 64 KiB, 1000 fields, 16 KiB metadata, depth 32", () => {
    assert.deepEqual(DEFAULT_LIMITS, {
      maxMessageBytes: 65_536,
      maxMessageFields: 1000,
      maxMetadataBytes: 16_384,
      maxMetadataDepth: 32,
    });
    assert.ok(decode(entry({ ...base, blob: "x".repeat(65_000) })).ok);
    assert.match(reasonOf({ ...base, blob: "x".repeat(65_536) }), /MAX_MESSAGE_BYTES/);
  });
});

Deno.test("hostile fields: NUL, unpaired surrogates and U+FFFD are refused up front, each with its reason", async (t) => {
  const base = { value: "1", timestamp: TS };
  const cases: [string, Record<string, string>, RegExp, string?][] = [
    ["NUL escape in metadata", { ...base, metadata: '{"a":"x\\u0000y"}' }, /metadata contains \\u0000/],
    ["NUL escape in a metadata key", { ...base, metadata: '{"\\u0000":1}' }, /metadata contains \\u0000/],
    ["raw NUL in metadata", { ...base, metadata: '{"a":"\u0000"}' }, /metadata is not valid JSON/],
    ["lone high surrogate", { ...base, metadata: '{"a":"\\ud800"}' }, /unpaired surrogate escape \\ud800/],
    ["lone low surrogate", { ...base, metadata: '{"a":"\\uDC00x"}' }, /unpaired surrogate escape \\uDC00/],
    ["reversed pair", { ...base, metadata: '{"a":"\\udc00\\ud800"}' }, /unpaired surrogate/],
    ["U+FFFD in metadata", { ...base, metadata: '{"a":"\uFFFD"}' }, /metadata contains U\+FFFD.*not valid UTF-8/],
    ["U+FFFD in device_id", { ...base, device_id: "esp\uFFFD" }, /device_id contains U\+FFFD/],
    ["U+FFFD in the key's sensor type", base, /sensor_type contains U\+FFFD/, "mqtt_stream:d:t\uFFFD"],
    ["NUL in unit", { ...base, unit: "°\u0000C" }, /unit contains a NUL character/],
    ["U+FFFD in unit", { ...base, unit: "\uFFFD" }, /unit contains U\+FFFD/],
    ["NUL in the stream key", { ...base, device_id: "d", sensor_type: "s" }, /stream key contains a NUL/, "a\u0000b"],
    ["1e400", { ...base, value: "1e400" }, /value "1e400" is not a finite decimal number/],
    ["NaN", { ...base, value: "NaN" }, /not a finite decimal number/],
    ["a huge value is cut in the reason", { ...base, value: "9".repeat(5000) }, /"9{64}"… \(5000 characters\) is not/],
    [
      "a huge timestamp is cut in the reason",
      { ...base, timestamp: "t".repeat(500) },
      /"t{64}"… \(500 characters\) is not/,
    ],
  ];
  for (const [name, fields, reason, stream] of cases) {
    await t.step(name, () => assert.match(reasonOf(fields, undefined, stream), reason));
  }
  await t.step("an escaped backslash before u0000 is text, not NUL", () => {
    assert.equal(jsonTextProblem('{"a":"\\\\u0000"}', 5), undefined);
  });
  await t.step("a surrogate pair (emoji) is fine", () => {
    assert.ok(decode(entry({ ...base, metadata: '{"e":"\\ud83d\\ude00","f":"🌡"}' })).ok);
  });
  await t.step("odd numbers that are still numbers are stored as doubles", () => {
    for (const [raw, want] of [["-0", -0], ["12345678901234567890", 12345678901234567000], ["1e-400", 0]] as const) {
      const d = decode(entry({ ...base, value: raw }));
      assert.ok(d.ok, raw);
      assert.ok(Object.is(d.reading.value, want), `${raw} → ${d.reading.value}`);
    }
  });
  await t.step("utf8Length counts bytes as UTF-8 does", () => {
    for (const s of ["", "abc", "é", "€", "🌡", "温度 ok", "\uFFFD"]) {
      assert.equal(utf8Length(s), new TextEncoder().encode(s).length, s);
    }
  });
});

Deno.test("a field named __proto__ is kept like any other, through decoding and dead-lettering", () => {
  const fields = fieldsToObject(["__proto__", "p", "value", "x", "constructor", "c", "timestamp", TS]);
  assert.deepEqual(Object.keys(fields), ["__proto__", "value", "constructor", "timestamp"]);
  const dead = fieldsToObject(deadLetterFields({ entry: entry(fields), reason: "r" }, 0));
  assert.equal(dead.constructor, "c", "no clash with Object.prototype");
  const back = originalFields(dead);
  assert.deepEqual(Object.entries(back), Object.entries(fields));
});

Deno.test("an entry with thousands of fields gets a dead letter that fits a script call and rebuilds exactly", () => {
  const flat: string[] = [];
  for (let i = 0; i < 5000; i++) flat.push(`f${i}`, String(i));
  flat.push("error", "its own", "__proto__", "p");
  const fields = fieldsToObject(flat);
  const letter = deadLetterFields({ entry: entry(fields), reason: "too many" }, 0);
  assert.ok(letter.length < 100, `a packed dead letter has only its own fields, got ${letter.length} values`);
  assert.ok(Object.keys(fields).length > PACK_ABOVE_FIELDS);
  assert.deepEqual(Object.entries(originalFields(fieldsToObject(letter))), Object.entries(fields));
});

Deno.test(`fuzz (seed ${SEED}, ${COUNT} messages): decode never throws; a sound reading or a one-line reason; dead letters rebuild exactly`, () => {
  const messages = generateMessages(SEED, COUNT);
  const tally = new Map<string, { ok: number; rejected: number }>();
  for (const [i, m] of messages.entries()) {
    const fields = asEntryFields(m);
    const e = entry(fields, i % 2 === 0 ? "mqtt_stream:dev-1:temperature" : "fz:ingest:x", `${i + 1}-0`);
    const where = `seed ${SEED}, message ${i} (${m.kind})`;
    let d: ReturnType<typeof decode>;
    try {
      d = decode(e);
    } catch (err) {
      assert.fail(`${where}: decode threw ${err}`);
    }
    const t = tally.get(m.kind) ?? { ok: 0, rejected: 0 };
    tally.set(m.kind, t);
    if (d.ok) {
      t.ok++;
      const r = d.reading;
      assert.ok(Number.isFinite(r.value), where);
      for (const s of [r.deviceId, r.sensorType]) {
        assert.ok(s.length > 0 && [...s].length <= MAX_NAME_LENGTH, where);
        assert.ok(!s.includes("\u0000") && !s.includes("\uFFFD"), where);
      }
      assert.ok(!Number.isNaN(Date.parse(r.time)) || r.time.startsWith("0"), `${where}: time ${r.time}`);
      if (r.metadata !== null) {
        const json = JSON.stringify(r.metadata);
        assert.ok(!json.includes("\\u0000") || json.includes("\\\\u0000"), where);
        assert.ok(utf8Length(json) <= DEFAULT_LIMITS.maxMessageBytes, where);
      }
    } else {
      t.rejected++;
      assert.ok(d.reason.trim().length > 0, `${where}: empty reason`);
      assert.ok(
        // deno-lint-ignore no-control-regex
        !/[\u0000-\u001f]/.test(d.reason),
        `${where}: reason has a control character: ${d.reason.slice(0, 200)}`,
      );
      assert.ok(
        d.reason.length <= 400,
        `${where}: reason is ${d.reason.length} characters: ${d.reason.slice(0, 200)}…`,
      );
      assert.doesNotMatch(d.reason, /could not be decoded/, `${where}: the decoder broke: ${d.reason}`);
    }
    if (m.good) assert.ok(d.ok, `${where}: a good message was rejected: ${(d as { reason?: string }).reason}`);
    // Whatever the outcome, its dead letter would rebuild the original fields.
    const dead = fieldsToObject(deadLetterFields({ entry: e, reason: "r" }, 0));
    assert.deepEqual(Object.entries(originalFields(dead)), Object.entries(fields), `${where}: dead letter is lossy`);
  }
  // The generator is worth its name: every kind shows up, and both outcomes do.
  const totals = [...tally.values()].reduce((a, b) => ({ ok: a.ok + b.ok, rejected: a.rejected + b.rejected }));
  if (COUNT >= 1000) {
    assert.ok(tally.size === 13, `all 13 kinds seen: ${[...tally.keys()].join(", ")}`);
    assert.ok(totals.ok > COUNT / 5 && totals.rejected > COUNT / 5, JSON.stringify(totals));
  }
});

Deno.test(`fuzz (seed ${SEED}): every reading the decoder accepts is stored; PostgreSQL refuses none`, async () => {
  await using world = await createWorld();
  const table = { schema: world.schema, name: "sensor_readings" };
  await new Migrator(world.sql, {
    table,
    enableTimescale: false,
    migrations: await loadMigrations(),
    log: silentLogger,
  })
    .up();
  const messages = generateMessages(SEED ^ 0x5eed, Math.min(COUNT, 3000));
  const readings = messages.flatMap((m, i) => {
    const d = decode(entry(asEntryFields(m), "mqtt_stream:dev-1:temperature", `${i + 1}-0`));
    return d.ok ? [d.reading] : [];
  });
  assert.ok(readings.length > 500, `enough readings to store: ${readings.length}`);
  const sink = new PostgresSink(world.sql, table);
  for (let i = 0; i < readings.length; i += 500) {
    const batch = readings.slice(i, i + 500);
    const out = await sink.write(batch);
    assert.deepEqual(
      out.rejected.map((x) => x.reason),
      [],
      `seed ${SEED ^ 0x5eed}: refused by the database, not caught by the decoder`,
    );
    assert.deepEqual(out.deferred, []);
    assert.equal(out.inserted, batch.length);
  }
  const [row] = await world.sql.unsafe(`SELECT count(*)::int AS n FROM ${world.table}`);
  assert.equal(row!.n, readings.length);
  // Stored as read: a reading's metadata is the JSONB of the text the message held (or of
  // the object with its unit merged in), compared by the database itself (numbers keep their digits).
  const byId = new Map(readings.map((r) => [r.sourceId, r]));
  const stored = await world.sql.unsafe(
    `SELECT source_id, metadata::text AS m FROM ${world.table} WHERE metadata IS NOT NULL`,
  );
  const ids = stored.map((s) => String(s.source_id));
  const texts = ids.map((id) => {
    const r = byId.get(id)!;
    return r.metadataText ?? JSON.stringify(r.metadata);
  });
  const want = await world.sql.unsafe(`SELECT t::jsonb::text AS m FROM unnest($1::text[]) AS t`, [texts]);
  stored.forEach((s, i) => assert.equal(s.m, want[i]!.m, `metadata of ${ids[i]}`));
});

Deno.test("a stream key that is not valid UTF-8 is named in one error and left alone; the others are consumed", async () => {
  await using world = await createWorld();
  const bad = Buffer.concat([Buffer.from(`${world.prefix}:dev`), Buffer.from([0xff]), Buffer.from(":temperature")]);
  const good = `${world.prefix}:dev-ok:temperature`;
  try {
    await world.redis.xadd(bad, "*", "value", "1", "timestamp", TS);
    await world.redis.xadd(good, "*", "value", "1", "timestamp", TS);
    const errors: [string, Record<string, unknown> | undefined][] = [];
    const log = { ...silentLogger, error: (m: string, f?: Record<string, unknown>) => void errors.push([m, f]) };
    const discovery = new StreamDiscovery(world.redis, {
      patterns: [`${world.prefix}:*`],
      group: world.group,
      deadLetterStream: world.deadLetterStream,
      log,
    });
    assert.deepEqual(await discovery.refresh(), [good]);
    assert.deepEqual(await discovery.refresh(), [good]);
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.match(errors[0]![0], /key is not valid UTF-8/);
    assert.equal(errors[0]![1]?.stream, `${world.prefix}:dev\uFFFD:temperature`);
  } finally {
    await world.redis.del(bad); // the world's own clean-up matches keys by text and would miss it
  }
});
