/**
 * End-to-end benchmark: the service against PostgreSQL's own ingest ceiling
 * (COPY of the very same rows into a table of the same shape), in one run.
 *
 *   deno task bench                       # 1,000,000 messages over 400 streams
 *   deno task bench --count 100000        # smaller
 *   deno task bench --count 200000 --batch 2000 --rate 5000 --steady-sec 20 --out bench/results/latest.json
 *   deno task bench --layout telemetry    # the telemetry table (natural key, units, ranges, device reference)
 *
 * Settings not given on the command line are the service's defaults (env
 * variables such as BATCH_SIZE or WRITE_CONCURRENCY set here are passed on).
 * Absolute numbers on a shared machine mean little: compare the ratios.
 */
import { Readable } from "node:stream";
import { createWorld, type World } from "../tests/_helpers/world.ts";
import { spawnService } from "../tests/_helpers/process.ts";
import { migratorFor } from "../src/sink/migrations/prepare.ts";
import type { Layout } from "../src/sink/layout.ts";
import { logger, printLine } from "../src/log.ts";
import {
  copyLine,
  cpuSeconds,
  message,
  peakRssMb,
  preload,
  quantile,
  registerDevices,
  streamKeys,
  telemetryLine,
} from "./bench_data.ts";

interface Options {
  count: number;
  streams: number;
  rate: number;
  steadySec: number;
  out: string;
  layout: Layout;
  extraEnv: Record<string, string>;
}

function parseArgs(args: string[]): Options {
  const o: Options = {
    count: 1_000_000,
    streams: 400,
    rate: 5000,
    steadySec: 20,
    out: "bench/results/latest.json",
    layout: "readings",
    extraEnv: {},
  };
  const passOn = ["BATCH_SIZE", "WRITE_CONCURRENCY", "DB_POOL_SIZE", "BATCH_TIMEOUT_SEC"];
  for (const name of passOn) {
    const v = Deno.env.get(name);
    if (v !== undefined) o.extraEnv[name] = v;
  }
  // V8 flags for the service processes only (DENO_V8_FLAGS would also reach this script).
  const v8 = Deno.env.get("BENCH_V8_FLAGS");
  if (v8) o.extraEnv.DENO_V8_FLAGS = v8;
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!, value = args[i + 1];
    const num = () => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) {
        throw new Error(`${flag}: got ${JSON.stringify(value)}, expected an integer ≥ 1`);
      }
      i++;
      return n;
    };
    if (flag === "--count") o.count = num();
    else if (flag === "--streams") o.streams = num();
    else if (flag === "--rate") o.rate = num();
    else if (flag === "--steady-sec") o.steadySec = num();
    else if (flag === "--batch") o.extraEnv.BATCH_SIZE = String(num());
    else if (flag === "--writers") o.extraEnv.WRITE_CONCURRENCY = String(num());
    else if (flag === "--out") o.out = args[++i] ?? o.out;
    else if (flag === "--layout" && (value === "readings" || value === "telemetry")) o.layout = args[++i] as Layout;
    else throw new Error(`unknown argument ${flag}; see the top of bench/pipeline_bench.ts`);
  }
  if (o.layout === "telemetry") {
    // Every reading passes the range checks, which stay on and are measured.
    o.extraEnv = { TABLE_LAYOUT: "telemetry", METRIC_RULES: "pressure=0..100,co2=0..100", ...o.extraEnv };
  }
  return o;
}

let layout: Layout = "readings";

async function migratedTable(world: World, name: string): Promise<string> {
  const table = { schema: world.schema, name };
  await (await migratorFor(world.sql, { tableLayout: layout, table, enableTimescale: false }, logger("bench"))).up();
  return `${world.schema}.${name}`;
}

const quoted = (table: string) => table.split(".").map((p) => `"${p}"`).join(".");

/** (i) The ceiling: one COPY FROM STDIN of every row into a freshly migrated table. */
async function ceiling(world: World, chunks: readonly string[], rows: number, name: string) {
  const table = await migratedTable(world, name);
  const copy = layout === "telemetry"
    ? `COPY ${quoted(table)} ("time", device_id, metric, value, unit) FROM STDIN`
    : `COPY ${quoted(table)} ("timestamp", device_id, sensor_type, value, metadata, source_stream, source_id) ` +
      `FROM STDIN`;
  const started = performance.now();
  const writable = await world.sql.unsafe(copy).writable();
  await new Promise<void>((resolve, reject) => {
    Readable.from(chunks).pipe(writable).on("finish", () => resolve()).on("error", reject);
  });
  const seconds = (performance.now() - started) / 1000;
  const [row] = await world.sql.unsafe(`SELECT count(*)::int AS n FROM ${quoted(table)}`);
  if (Number(row?.n) !== rows) throw new Error(`COPY stored ${row?.n} rows, expected ${rows}`);
  await world.sql.unsafe(`DROP TABLE ${quoted(table)}`);
  return { rowsPerSec: rows / seconds, seconds };
}

/** Starts `n` service instances and waits until each logs `consuming`; returns them and the start-up times. */
async function startServices(world: World, n: number, env: Record<string, string>) {
  const started = performance.now();
  const services = Array.from({ length: n }, () => spawnService(["run"], world.env(env)));
  const readyAt: number[] = [];
  await Promise.all(services.map(async (s) => {
    await s.waitForLog((r) => r.message === "consuming", 120_000);
    readyAt.push(performance.now());
  }));
  // Draining begins as soon as the first instance is ready.
  return { services, startupMs: Math.max(...readyAt) - started, firstReadyAt: Math.min(...readyAt) };
}

async function stopServices(services: ReturnType<typeof spawnService>[]): Promise<void> {
  for (const s of services) s.kill("SIGTERM");
  const codes = await Promise.all(services.map((s) => s.status.then((st) => st.code)));
  if (codes.some((c) => c !== 0)) throw new Error(`a service exited with ${codes.join(", ")}`);
}

/** (ii) End to end: `workers` instances in a fresh group drain the backlog into a fresh table. */
async function drain(world: World, o: Options, workers: number) {
  const name = `drain_${workers}w`;
  const table = await migratedTable(world, name);
  const env = { ...o.extraEnv, TABLE_NAME: table, CONSUMER_GROUP_NAME: `${world.group}_${workers}w` };
  // The group is created by the service at the start of each stream, so the
  // whole backlog is there before the clock starts (at the first `consuming`).
  const { services, startupMs, firstReadyAt: started } = await startServices(world, workers, env);
  const cpu0 = await Promise.all(services.map((s) => cpuSeconds(s.child.pid)));
  let peak = 0;
  const q = quoted(table);
  while (true) {
    const [m] = layout === "telemetry"
      ? [{ n: o.count }] // no id column: count(*) below decides
      : await world.sql.unsafe(`SELECT coalesce(max(id), 0)::int AS n FROM ${q}`);
    if (Number(m?.n) >= o.count) {
      const [c] = await world.sql.unsafe(`SELECT count(*)::int AS n FROM ${q}`);
      if (Number(c?.n) >= o.count) break;
    }
    for (const s of services) peak = Math.max(peak, await peakRssMb(s.child.pid));
    if (performance.now() - started > 1_800_000) throw new Error(`${name}: not drained within 30 minutes`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu1 = await Promise.all(services.map((s) => cpuSeconds(s.child.pid)));
  for (const s of services) peak = Math.max(peak, await peakRssMb(s.child.pid));
  await stopServices(services);
  const [c] = await world.sql.unsafe(`SELECT count(*)::int AS n FROM ${q}`);
  if (Number(c?.n) !== o.count) throw new Error(`${name}: ${c?.n} rows, expected exactly ${o.count}`);
  await world.sql.unsafe(`DROP TABLE ${q}`);
  const cpu = cpu1.reduce((a, b, i) => a + b - cpu0[i]!, 0);
  return { rowsPerSec: o.count / seconds, seconds, startupMs, peakRssMb: peak, cpuSecPer1000: (cpu / o.count) * 1000 };
}

/** (iii) Steady state: `rate` msg/s for `steadySec`, latency from XADD to the row being visible. */
async function steady(world: World, o: Options) {
  const table = await migratedTable(world, "steady");
  const prefix = `${world.prefix}:st`;
  const streams = streamKeys(prefix, o.streams);
  const env = {
    ...o.extraEnv,
    TABLE_NAME: table,
    STREAM_PATTERN: `${prefix}:*`,
    CONSUMER_GROUP_NAME: `${world.group}_st`,
  };
  // The streams exist before the service starts, so it does not wait for discovery.
  const pipe = world.redis.pipeline();
  for (const s of streams) pipe.xgroup("CREATE", s, `${world.group}_st`, "$", "MKSTREAM");
  await pipe.exec();
  const { services } = await startServices(world, 1, env);
  const total = o.rate * o.steadySec;
  const sentAt = new Float64Array(total);
  const seenAt = new Float64Array(total);
  let sent = 0, seen = 0, low = 0;
  const seenIds = new Set<number>();
  const started = performance.now();
  const q = quoted(table);
  const poll = async () => {
    const rows = await world.sql.unsafe(
      `SELECT id::int AS id, (metadata->>'seq')::int AS seq FROM ${q} WHERE id > $1 ORDER BY id`,
      [low],
    );
    const t = performance.now();
    for (const r of rows) {
      const id = Number(r.id);
      if (seenIds.has(id)) continue;
      seenIds.add(id);
      seenAt[Number(r.seq)] = t;
      seen++;
    }
    while (seenIds.has(low + 1)) seenIds.delete(++low);
  };
  while (seen < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * o.rate));
    if (sent < due) {
      const p = world.redis.pipeline();
      const t = performance.now();
      for (; sent < due; sent++) {
        const m = message(streams, sent, Date.now());
        sentAt[sent] = t;
        p.xadd(m.stream, "*", "value", m.value, "timestamp", m.timestamp, "metadata", m.metadata);
      }
      await p.exec();
    }
    await poll();
    if (performance.now() - started > (o.steadySec + 120) * 1000) throw new Error("steady state: rows missing");
    await new Promise((r) => setTimeout(r, 10));
  }
  await stopServices(services);
  const latencies = Array.from(seenAt, (t, i) => t - sentAt[i]!).sort((a, b) => a - b);
  await world.sql.unsafe(`DROP TABLE ${q}`);
  return { rate: o.rate, seconds: o.steadySec, p50Ms: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99) };
}

const f0 = (n: number) => Math.round(n).toLocaleString("en-US");

if (import.meta.main) {
  const o = parseArgs(Deno.args);
  layout = o.layout;
  await using world = await createWorld();
  const streams = streamKeys(world.prefix, o.streams);
  printLine(
    `bench: ${f0(o.count)} messages over ${o.streams} streams, layout ${layout}; service env ${
      JSON.stringify(o.extraEnv)
    }`,
  );
  if (layout === "telemetry") await registerDevices(world, streams);
  let t = performance.now();
  const chunks = await preload(world.redis, streams, o.count, layout === "telemetry" ? telemetryLine : copyLine);
  printLine(`preloaded in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  t = performance.now();
  // The ceiling is measured before and after the service runs; the faster
  // of the two counts, so noise from other load never flatters the ratio.
  const before = await ceiling(world, chunks, o.count, "copy_before");
  printLine(`ceiling (COPY) measured in ${before.seconds.toFixed(1)} s`);
  const one = await drain(world, o, 1);
  printLine(`1 worker drained in ${one.seconds.toFixed(1)} s`);
  const two = await drain(world, o, 2);
  printLine(`2 workers drained in ${two.seconds.toFixed(1)} s`);
  const after = await ceiling(world, chunks, o.count, "copy_after");
  chunks.length = 0;
  printLine(`ceiling (COPY) measured again in ${after.seconds.toFixed(1)} s`);
  const copy = before.rowsPerSec >= after.rowsPerSec ? before : after;
  // The steady-state latency probe reads the readings layout's id and metadata.
  const st = layout === "readings" ? await steady(world, o) : undefined;

  const ratio = (r: number) => (r / copy.rowsPerSec).toFixed(2);
  const rows: string[][] = [
    ["measure", "rows/s", "× COPY", "notes"],
    [
      "COPY ceiling",
      f0(copy.rowsPerSec),
      "1.00",
      `one COPY FROM STDIN, same rows and indexes; best of ${f0(before.rowsPerSec)} before and ${
        f0(after.rowsPerSec)
      } after`,
    ],
    [
      "end to end, 1 worker",
      f0(one.rowsPerSec),
      ratio(one.rowsPerSec),
      `${one.seconds.toFixed(1)} s; peak RSS ${one.peakRssMb.toFixed(0)} MB; ` +
      `${one.cpuSecPer1000.toFixed(3)} CPU s/1000 rows; start-up ${f0(one.startupMs)} ms`,
    ],
    [
      "end to end, 2 workers",
      f0(two.rowsPerSec),
      ratio(two.rowsPerSec),
      `${two.seconds.toFixed(1)} s; peak RSS ${two.peakRssMb.toFixed(0)} MB each at most; ` +
      `${two.cpuSecPer1000.toFixed(3)} CPU s/1000 rows (both)`,
    ],
    ...(st
      ? [[
        `steady ${f0(st.rate)} msg/s`,
        "",
        "",
        `${st.seconds} s; XADD → committed row p50 ${st.p50Ms.toFixed(1)} ms, p99 ${st.p99Ms.toFixed(1)} ms`,
      ]]
      : []),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) printLine(r.map((cell, c) => c === 3 ? cell : cell.padEnd(widths[c]!)).join(" | "));

  const result = {
    at: new Date().toISOString(),
    machine: {
      cores: navigator.hardwareConcurrency,
      loadavg: Deno.loadavg(),
      memory_mb: Deno.systemMemoryInfo().total / 1048576,
    },
    options: { count: o.count, streams: o.streams, layout, env: o.extraEnv },
    copy_ceiling_rows_per_sec: copy.rowsPerSec,
    copy_ceiling_runs: [before.rowsPerSec, after.rowsPerSec],
    end_to_end_1_worker: { ...one, ratio: one.rowsPerSec / copy.rowsPerSec },
    end_to_end_2_workers: { ...two, ratio: two.rowsPerSec / copy.rowsPerSec },
    steady: st,
  };
  await Deno.mkdir(new URL("./results/", import.meta.url), { recursive: true }).catch(() => {});
  await Deno.writeTextFile(o.out, JSON.stringify(result, null, 2) + "\n");
  printLine(`written ${o.out}`);
}
