/**
 * The simulator: its pure, seedable generator, and `db-writer simulate`
 * through the real CLI against real Redis (own stream keys per test).
 */
import assert from "node:assert/strict";
import { createWorld, type World } from "../_helpers/world.ts";
import { runCli, spawnService } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { rowCounts, tableRows } from "../_helpers/rows.ts";
import { ProgressLine } from "../../src/cli/simulate/progress.ts";
import { decode } from "../../src/decode/decode.ts";
import { fieldsToObject } from "../../src/source/fields.ts";
import {
  formatTimestamp,
  generateMessages,
  type GeneratorOptions,
  seededRng,
  type SimMessage,
  streamKeys,
} from "../../src/cli/simulate/messages.ts";
import { globMatches } from "../../src/cli/simulate/glob.ts";

const OPTS: GeneratorOptions = {
  devices: 3,
  sensors: ["temperature", "humidity", "pressure"],
  shape: "per-sensor",
  prefix: "mqtt_stream",
  stream: "mqtt:ingestion",
  badRatio: 0,
};
const NOW = Date.UTC(2026, 10, 28, 10, 0, 0, 123);

function take(opts: GeneratorOptions, n: number, seed = 1): SimMessage[] {
  const gen = generateMessages(opts, seededRng(seed), () => NOW);
  return Array.from({ length: n }, () => gen.next().value as SimMessage);
}

function decoded(messages: readonly SimMessage[]) {
  return messages.map((m, i) => decode({ stream: m.stream, id: `1-${i}`, fields: m.fields }));
}

Deno.test("generateMessages is repeatable for a seed and differs across seeds", () => {
  assert.deepEqual(take(OPTS, 200, 42), take(OPTS, 200, 42));
  assert.notDeepEqual(take(OPTS, 200, 42), take(OPTS, 200, 43));
});

Deno.test("generateMessages writes plausible, decodable readings in both shapes", async (t) => {
  await t.step("per-sensor: key names device and sensor; value, timestamp, metadata object", () => {
    const msgs = take(OPTS, 9);
    assert.deepEqual(msgs.slice(0, 3).map((m) => m.stream), [
      "mqtt_stream:sim-001:temperature",
      "mqtt_stream:sim-001:humidity",
      "mqtt_stream:sim-001:pressure",
    ]);
    for (const m of msgs) assert.deepEqual(Object.keys(m.fields), ["value", "timestamp", "metadata"]);
    const meta = JSON.parse(msgs[0]!.fields.metadata!) as Record<string, unknown>;
    assert.match(String(meta.firmware), /^\d+\.\d+\.\d+$/);
    assert.equal(typeof meta.rssi, "number");
  });

  await t.step("timestamps: naive with microseconds, Z, and +00:00, all the same instant", () => {
    const stamps = take(OPTS, 9).map((m) => m.fields.timestamp!);
    assert.match(stamps[0]!, /^2026-11-28T10:00:00\.123\d{3}$/);
    assert.equal(stamps[3], "2026-11-28T10:00:00.123Z");
    assert.match(stamps[6]!, /^2026-11-28T10:00:00\.123\d{3}\+00:00$/);
    assert.equal(formatTimestamp(Date.UTC(2026, 0, 1), 0, "naive-micro"), "2026-01-01T00:00:00");
  });

  await t.step("shared: device_id, metric, value, timestamp, unit, metadata on one stream", () => {
    const msgs = take({ ...OPTS, shape: "shared" }, 6);
    assert.ok(msgs.every((m) => m.stream === "mqtt:ingestion"));
    assert.deepEqual(msgs[0]!.fields.device_id, "sim-001");
    assert.deepEqual(Object.keys(msgs[0]!.fields), ["device_id", "metric", "value", "timestamp", "unit", "metadata"]);
    assert.deepEqual(msgs.slice(0, 3).map((m) => m.fields.unit), ["°C", "%", "hPa"]);
  });

  await t.step("both: alternates shapes round by round", () => {
    const opts = { ...OPTS, shape: "both" as const };
    const msgs = take(opts, 18);
    assert.equal(msgs.filter((m) => m.stream === "mqtt:ingestion").length, 9);
    assert.deepEqual(new Set(msgs.map((m) => m.stream)), new Set(streamKeys(opts)));
  });

  await t.step("values drift within each sensor's range; every message decodes", () => {
    const sensors = ["temperature", "humidity", "pressure", "co2", "light", "noise", "pm25"];
    const msgs = take({ ...OPTS, sensors, shape: "both" }, 7000, 7);
    const results = decoded(msgs);
    assert.ok(results.every((r) => r.ok), JSON.stringify(results.find((r) => !r.ok)));
    const by = (sensor: string) =>
      results.flatMap((r) => (r.ok && r.reading.sensorType === sensor ? [r.reading.value] : []));
    const within = (xs: number[], lo: number, hi: number) => xs.every((x) => x >= lo && x <= hi);
    assert.ok(within(by("temperature"), 15, 25));
    assert.ok(within(by("humidity"), 30, 70));
    assert.ok(within(by("pressure"), 990, 1035));
    assert.ok(within(by("co2"), 400, 2000));
    assert.ok(within(by("light"), 0, 1000));
    assert.ok(within(by("noise"), 30, 90));
    assert.ok(within(by("pm25"), 0, 150));
    for (const sensor of ["co2", "light", "noise", "pm25"]) assert.ok(by(sensor).length > 100, sensor);
    const temps = results.flatMap((r) =>
      r.ok && r.reading.deviceId === "sim-001" && r.reading.sensorType === "temperature" ? [r.reading.value] : []
    );
    assert.ok(new Set(temps).size > 50, "values change");
    const jumps = temps.slice(1).map((v, i) => Math.abs(v - temps[i]!));
    assert.ok(Math.max(...jumps) <= 0.6, "one device's temperature drifts, it does not jump");
  });
});

Deno.test("generateMessages: malformed messages are rejected, in roughly the asked share", () => {
  const msgs = take({ ...OPTS, badRatio: 0.3 }, 2000, 5);
  const bad = msgs.filter((m) => m.defect);
  assert.ok(bad.length > 500 && bad.length < 700, `${bad.length} of 2000`);
  assert.deepEqual(
    new Set(bad.map((m) => m.defect)),
    new Set(["value", "timestamp", "missing-timestamp", "missing-field", "metadata"]),
  );
  decoded(msgs).forEach((r, i) => assert.equal(r.ok, !msgs[i]!.defect, JSON.stringify(msgs[i])));
  assert.equal(take({ ...OPTS, badRatio: 1 }, 100).filter((m) => !m.defect).length, 0);
});

Deno.test("globMatches follows Redis glob rules", () => {
  assert.ok(globMatches("mqtt_stream:*", "mqtt_stream:a:b"));
  assert.ok(!globMatches("mqtt_stream:*", "mqtt:ingestion"));
  assert.ok(globMatches("mqtt:ingestion", "mqtt:ingestion"));
  assert.ok(globMatches("s?n[a-c]:[^x]", "sunb:y"));
  assert.ok(!globMatches("s?n[a-c]:[^x]", "sunb:x"));
  assert.ok(globMatches("a\\*b.c", "a*b.c"));
  assert.ok(!globMatches("a\\*b.c", "axb.c"));
});

/** Every entry under the world's prefix, decoded. */
async function readAll(world: World) {
  const keys: string[] = [];
  let cursor = "0";
  do {
    const [next, found] = await world.redis.scan(cursor, "MATCH", `${world.prefix}:*`, "COUNT", 1000);
    cursor = next;
    keys.push(...found);
  } while (cursor !== "0");
  const out = [];
  for (const key of keys) {
    for (const [id, flat] of await world.redis.xrange(key, "-", "+")) {
      out.push(decode({ stream: key, id, fields: fieldsToObject(flat) }));
    }
  }
  return { keys, results: out };
}

function simArgs(world: World, ...extra: string[]): string[] {
  return ["simulate", "--prefix", world.prefix, "--stream", `${world.prefix}:ingestion`, ...extra];
}

Deno.test("simulate --count 50 --shape both writes 50 messages that decode", async () => {
  await using world = await createWorld();
  const r = await runCli(simArgs(world, "--count", "50", "--shape", "both", "--seed", "1"), world.env());
  assert.equal(r.code, 0, r.stderr);
  // Default: 5 devices × 7 sensors, then the single stream.
  assert.match(r.stdout, /^sent 50 messages \(0 malformed\) to 36 streams in \d+\.\d+ s$/m);
  assert.equal(r.stderr, "", "every stream matches STREAM_PATTERN: no note");
  const { keys, results } = await readAll(world);
  assert.equal(keys.length, 36);
  assert.ok(keys.includes(`${world.prefix}:ingestion`));
  assert.equal(results.length, 50);
  assert.ok(results.every((d) => d.ok), JSON.stringify(results.find((d) => !d.ok)));
});

Deno.test("simulate --bad-ratio 0.5 with a seed: about half are rejected, as many as it reports", async () => {
  await using world = await createWorld();
  const args = simArgs(world, "--count", "200", "--shape", "both", "--bad-ratio", "0.5", "--seed", "2024");
  const r = await runCli(args, world.env());
  assert.equal(r.code, 0, r.stderr);
  const m = /sent 200 messages \((\d+) malformed\)/.exec(r.stdout);
  assert.ok(m, r.stdout);
  const { results } = await readAll(world);
  const rejected = results.filter((d) => !d.ok).length;
  assert.equal(results.length, 200);
  assert.equal(rejected, Number(m[1]));
  assert.ok(rejected >= 70 && rejected <= 130, `${rejected} of 200 rejected`);
});

Deno.test("simulate --rate paces the messages", async () => {
  await using world = await createWorld();
  const r = await runCli(simArgs(world, "--count", "20", "--rate", "40", "--devices", "1"), world.env());
  assert.equal(r.code, 0, r.stderr);
  const seconds = Number(/in (\d+\.\d+) s/.exec(r.stdout)?.[1]);
  assert.ok(seconds >= 0.4, `20 messages at 40/s took ${seconds} s`);
  assert.equal((await readAll(world)).results.length, 20);
});

Deno.test("simulate --count 0 runs until SIGINT and stops cleanly", async () => {
  await using world = await createWorld();
  await using proc = spawnService(simArgs(world, "--count", "0", "--rate", "200"), world.env());
  await waitFor(async () => (await readAll(world)).results.length >= 20, { what: "20 messages sent" });
  proc.kill("SIGINT");
  const status = await proc.status;
  assert.equal(status.code, 0, proc.errLines.join("\n"));
  const m = /^sent (\d+) messages \(0 malformed\) to (\d+) streams/.exec(proc.lines.at(-1) ?? "");
  assert.ok(m, proc.lines.join("\n"));
  assert.equal((await readAll(world)).results.length, Number(m[1]));
});

Deno.test("simulate: bad flags exit 2 with a clear message; --help lists the options", async (t) => {
  await using world = await createWorld();
  const bad: [string[], RegExp][] = [
    [["--bogus"], /simulate: Unknown option '--bogus'; run db-writer simulate --help/],
    [["--shape", "round"], /--shape must be per-sensor, single \(or shared\) or both, got "round"/],
    [["--count", "5", "--duration", "1"], /give either --count C or --duration S, not both/],
    [["--duration", "0"], /--duration must be a number from 0.001 to 2147483, got "0"/],
    [["--bad-ratio", "1.5"], /--bad-ratio must be a number from 0 to 1, got "1.5"/],
    [["--count", "-3"], /--count/],
    [["--devices", "0"], /--devices must be a whole number from 1 to 100000, got "0"/],
    [["--stream", world.deadLetterStream, "--shape", "shared"], /is the dead-letter stream/],
  ];
  for (const [args, want] of bad) {
    await t.step(args.join(" "), async () => {
      const r = await runCli(["simulate", ...args], world.env());
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stderr, want);
    });
  }
  await t.step("--help", async () => {
    const r = await runCli(["simulate", "--help"], world.env());
    assert.equal(r.code, 0, r.stderr);
    for (
      const flag of [
        "--devices N",
        "--rate R",
        "--duration S",
        "--count C",
        "per-sensor|single",
        "--bad-ratio X",
        "--sensors",
        "--stream",
        "--prefix",
      ]
    ) {
      assert.ok(r.stdout.includes(flag), flag);
    }
  });
  await t.step("a stream outside STREAM_PATTERN gets a note", async () => {
    const r = await runCli(
      ["simulate", "--count", "1", "--shape", "shared", "--stream", `${world.prefix}_x`],
      world.env(),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /do not match STREAM_PATTERN/);
  });
});

Deno.test("simulate --duration runs for that long; --shape single writes one stream", async () => {
  await using world = await createWorld();
  const r = await runCli(
    simArgs(world, "--duration", "1.5", "--rate", "20", "--shape", "single", "--devices", "2"),
    world.env(),
  );
  assert.equal(r.code, 0, r.stderr);
  const m = /^sent (\d+) messages \(0 malformed\) to 1 streams in (\d+\.\d+) s$/m.exec(r.stdout);
  assert.ok(m, r.stdout);
  assert.ok(Number(m[2]) >= 1.4, `ran ${m[2]} s`);
  assert.ok(Number(m[1]) >= 20 && Number(m[1]) <= 40, `${m[1]} messages at 20/s for 1.5 s`);
  const { keys, results } = await readAll(world);
  assert.deepEqual(keys, [`${world.prefix}:ingestion`]);
  assert.equal(results.length, Number(m[1]));
});

Deno.test("ProgressLine: redrawn on a terminal, a line per interval otherwise", async (t) => {
  let now = 0;
  await t.step("terminal", () => {
    const out: string[] = [];
    const p = new ProgressLine((s) => out.push(s), { terminal: true, now: () => now });
    now = 100;
    p.update({ sent: 10, malformed: 1 });
    now = 200;
    p.update({ sent: 20, malformed: 1 }); // too soon: not redrawn
    now = 2100;
    p.update({ sent: 400, malformed: 3 });
    p.finish();
    assert.deepEqual(out, [
      "\r\x1b[2Ksimulate: sent 10 (1 malformed), 100 msg/s, 0.1 s elapsed",
      "\r\x1b[2Ksimulate: sent 400 (3 malformed), 190 msg/s, 2.1 s elapsed",
      "\r\x1b[2K",
    ]);
  });
  await t.step("not a terminal", () => {
    const out: string[] = [];
    now = 0;
    const p = new ProgressLine((s) => out.push(s), { terminal: false, now: () => now });
    now = 1000;
    p.update({ sent: 10, malformed: 0 });
    now = 6000;
    p.update({ sent: 600, malformed: 0 });
    now = 7000;
    p.update({ sent: 700, malformed: 0 });
    p.finish();
    assert.deepEqual(out, ["simulate: sent 600 (0 malformed), 100 msg/s, 6.0 s elapsed\n"]);
  });
});

Deno.test("the service consumes what simulate writes: one row per good message, one dead letter per bad one", async () => {
  await using world = await createWorld();
  const env = world.env();
  await using svc = spawnService(["run"], env);
  await svc.waitForLog((r) => r.message === "consuming", 30_000);
  const r = await runCli(
    simArgs(world, "--count", "300", "--shape", "both", "--bad-ratio", "0.1", "--seed", "99", "--devices", "3"),
    env,
  );
  assert.equal(r.code, 0, r.stderr);
  const m = /^sent 300 messages \((\d+) malformed\)/m.exec(r.stdout);
  assert.ok(m, r.stdout);
  const malformed = Number(m[1]);
  assert.ok(malformed > 0 && malformed < 300, `${malformed} malformed`);
  await waitFor(async () =>
    (await rowCounts(world)).rows === 300 - malformed &&
    (await world.redis.xlen(world.deadLetterStream)) === malformed, {
    timeoutMs: 30_000,
    what: `${300 - malformed} rows and ${malformed} dead letters`,
  });
  const rows = await tableRows(world);
  assert.equal(new Set(rows.map((row) => `${row.source_stream} ${row.source_id}`)).size, rows.length);
  assert.ok(rows.every((row) => row.device_id.startsWith("sim-")));
  assert.deepEqual(
    new Set(rows.map((row) => row.sensor_type)),
    new Set(["temperature", "humidity", "co2", "pressure", "light", "noise", "pm25"]),
  );
  svc.kill("SIGTERM");
  assert.equal((await svc.status).code, 0);
});
