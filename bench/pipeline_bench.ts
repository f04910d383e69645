/**
 * End-to-end benchmark: the service against PostgreSQL's own ingest ceiling
 * (one COPY of the very same rows into a table of the same shape), in one run,
 * for both input shapes, variants interleaved between two ceilings.
 *
 *   deno task bench                        # 500,000 messages per shape, 400 per-sensor streams + the shared stream
 *   deno task bench --steady-only          # only the live-traffic latency
 *   deno task bench --layout telemetry     # also the telemetry layout (natural key), against its own COPY ceiling
 *   deno task bench --quick                # 100,000 messages, 5 s of live traffic
 *   deno task bench --shapes sensor --semi 4,16,32 --rounds 2   # young-generation sizes, interleaved
 *   deno task bench --compare /tmp/base    # also the service of another checkout (git worktree add /tmp/base HEAD~1)
 *   deno task bench --variant WRITE_CONCURRENCY=3   # also the defaults with one setting changed (repeatable)
 *   deno task bench --v8 --single-threaded-gc       # also the defaults with extra V8 flags (repeatable)
 *   deno task bench --count 200000 --rate 5000 --steady-sec 20 --out bench/results/latest.json
 *
 * Settings not given here are the service's defaults (BATCH_SIZE, WRITE_CONCURRENCY, DB_POOL_SIZE and
 * BATCH_TIMEOUT_SEC in the environment are passed on). On a shared machine compare ratios, not rows/s.
 */
import { createWorld } from "../tests/_helpers/world.ts";
import { printLine } from "../src/log.ts";
import { preload, type Shape, shapeStreams } from "./bench_data.ts";
import { redisPid } from "./bench_proc.ts";
import { ceiling, drain, steady, type Variant } from "./bench_runs.ts";
import { type DrainResult, f0, f1, f2, printTable, report } from "./bench_report.ts";
import { deviceIdsOf, lastTime, registerDevices, TELEMETRY_ENV, telemetryChunks } from "./bench_telemetry.ts";
import { V8_FLAGS } from "../tools/gen_config.ts";

interface Options {
  count: number;
  streams: number;
  rate: number;
  steadySec: number;
  rounds: number;
  shapes: Shape[];
  variants: Variant[];
  /** Variants measured on the per-sensor shape only (young-generation sizes). */
  sensorOnly: Variant[];
  steady: boolean;
  /** Also drain each backlog into a `telemetry`-layout table (defaults only), against its own ceiling. */
  telemetry: boolean;
  compare?: string;
  /** Extra drains on both shapes, each the defaults plus one setting (`--variant WRITE_CONCURRENCY=3`). */
  envVariants: Variant[];
  out: string;
  extraEnv: Record<string, string>;
}

function parseArgs(args: string[]): Options {
  const o: Options = {
    count: 500_000,
    streams: 400,
    rate: 5000,
    steadySec: 20,
    rounds: 1,
    shapes: ["sensor", "shared"],
    variants: [],
    sensorOnly: [],
    steady: true,
    telemetry: false,
    out: "bench/results/latest.json",
    extraEnv: {},
    envVariants: [],
  };
  for (const name of ["BATCH_SIZE", "WRITE_CONCURRENCY", "DB_POOL_SIZE", "BATCH_TIMEOUT_SEC"]) {
    const v = Deno.env.get(name);
    if (v !== undefined) o.extraEnv[name] = v;
  }
  const list = (value: string | undefined) => (value ?? "").split(",").filter((s) => s !== "");
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
    else if (flag === "--rounds") o.rounds = num();
    else if (flag === "--quick") (o.count = 100_000), (o.steadySec = 5);
    else if (flag === "--no-steady") o.steady = false;
    else if (flag === "--steady-only") o.shapes = [];
    else if (flag === "--batch") o.extraEnv.BATCH_SIZE = String(num());
    else if (flag === "--writers") o.extraEnv.WRITE_CONCURRENCY = String(num());
    else if (flag === "--compare") o.compare = args[++i];
    else if (flag === "--variant") {
      const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(value ?? "");
      if (!m) throw new Error(`--variant: got ${JSON.stringify(value)}, expected a setting like WRITE_CONCURRENCY=3`);
      i++;
      o.envVariants.push({ name: `${m[1]}=${m[2]}`, env: { ...o.extraEnv, [m[1]!]: m[2]! } });
    } else if (flag === "--out") o.out = args[++i] ?? o.out;
    else if (flag === "--layout") {
      if (value !== "readings" && value !== "telemetry") {
        throw new Error(`--layout: got ${JSON.stringify(value)}, expected readings or telemetry`);
      }
      o.telemetry = args[++i] === "telemetry";
    } else if (flag === "--shapes") {
      o.shapes = list(args[++i]) as Shape[];
      if (o.shapes.length === 0 || o.shapes.some((s) => s !== "sensor" && s !== "shared")) {
        throw new Error(`--shapes: got ${JSON.stringify(value)}, expected sensor, shared or sensor,shared`);
      }
    } else if (flag === "--v8") {
      // Extra V8 flags on top of the service's own (`--v8 --single-threaded-gc`), measured as a variant of the defaults.
      if (!value?.startsWith("--")) {
        throw new Error(`--v8: got ${JSON.stringify(value)}, expected V8 flags like --single-threaded-gc`);
      }
      i++;
      o.envVariants.push({ name: `V8 ${value}`, env: { ...o.extraEnv }, v8Flags: [...V8_FLAGS, value].join(",") });
    } else if (flag === "--semi") {
      for (const mb of list(args[++i])) {
        if (!/^\d+$/.test(mb)) throw new Error(`--semi: got ${JSON.stringify(value)}, expected MB sizes like 4,16,32`);
        const flags = V8_FLAGS.map((f) => f.startsWith("--max-semi-space-size=") ? `--max-semi-space-size=${mb}` : f);
        o.sensorOnly.push({ name: `semi-space ${mb} MB`, env: {}, v8Flags: flags.join(",") });
      }
    } else throw new Error(`unknown argument ${flag}; see the top of bench/pipeline_bench.ts`);
  }
  o.variants = [
    { name: "defaults", env: { ...o.extraEnv } },
    { name: "BATCH_SIZE=100", env: { ...o.extraEnv, BATCH_SIZE: "100" } },
  ];
  // Variants come after the two rows the goals name; their env is applied after extraEnv (parsed in order).
  o.variants.push(...o.envVariants);
  if (o.compare) {
    const root = o.compare;
    o.variants = o.variants.flatMap((v) => [v, { ...v, name: `${v.name} @${root}`, root }]);
  }
  return o;
}

if (import.meta.main) {
  const o = parseArgs(Deno.args);
  await using world = await createWorld();
  const rpid = await redisPid(world.redis);
  const load = Deno.loadavg();
  printLine(
    `bench ${new Date().toISOString()}: ${f0(o.count)} messages per shape; ${navigator.hardwareConcurrency} cores; ` +
      `load ${load.map((l) => l.toFixed(2)).join(" ")}; service env ${JSON.stringify(o.extraEnv)}` +
      (rpid ? "" : "; Redis not local: its CPU is not measured"),
  );
  const result: Record<string, unknown> = {
    at: new Date().toISOString(),
    machine: {
      cores: navigator.hardwareConcurrency,
      loadavg: load,
      memory_mb: Deno.systemMemoryInfo().total / 1048576,
    },
    options: { count: o.count, streams: o.streams, rounds: o.rounds, env: o.extraEnv, telemetry: o.telemetry },
  };
  for (const shape of o.shapes) {
    const prefix = `${world.prefix}${shape === "sensor" ? "p" : "i"}`;
    const streams = shapeStreams(shape, prefix, o.streams);
    const label = shape === "sensor" ? `${o.streams} per-sensor streams` : `one shared stream (mqtt:ingestion shape)`;
    let t = performance.now();
    let chunks = await preload(world.redis, shape, streams, o.count);
    const ceilings: { rowsPerSec: number; postgresUsPerRow: number }[] = [];
    printLine(`\n${label}: preloaded in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    // The telemetry layout: the same backlog, its own rows, table and ceiling; the devices registered first.
    let tChunks = o.telemetry ? telemetryChunks(chunks) : [];
    const tLast = o.telemetry ? lastTime(chunks) : "";
    if (o.telemetry) await registerDevices(world.sql, world.schema, deviceIdsOf(chunks));
    const tVariant: Variant = { name: "defaults", env: { ...o.extraEnv, ...TELEMETRY_ENV } };
    const tCeilings: typeof ceilings = [];
    const tDrains: DrainResult[] = [];
    const variants = shape === "sensor" ? [...o.variants, ...o.sensorOnly] : o.variants;
    const drains = new Map<string, DrainResult[]>(variants.map((v) => [v.name, []]));
    // Each round: ceiling, every variant, ceiling again; the faster ceiling
    // counts, so load from elsewhere never flatters a ratio.
    for (let round = 0; round < o.rounds; round++) {
      ceilings.push(await ceiling(world, chunks, o.count, `copy_${shape}_${round}`));
      for (const [vi, v] of variants.entries()) {
        t = performance.now();
        const tag = `${shape}_${round}_${vi}`;
        const r = await drain(world, { pattern: `${prefix}:*`, count: o.count, redisPid: rpid, tag }, v);
        drains.get(v.name)!.push(r);
        printLine(`  ${v.name}: drained in ${r.seconds.toFixed(1)} s`);
      }
      if (o.telemetry) {
        tCeilings.push(await ceiling(world, tChunks, o.count, `tcopy_${shape}_${round}`, "telemetry"));
        const tag = `${shape}_${round}_t`;
        const r = await drain(world, {
          pattern: `${prefix}:*`,
          count: o.count,
          redisPid: rpid,
          tag,
          layout: "telemetry",
          lastTime: tLast,
        }, tVariant);
        tDrains.push(r);
        printLine(`  telemetry layout, defaults: drained in ${r.seconds.toFixed(1)} s`);
      }
      if (round === o.rounds - 1) {
        ceilings.push(await ceiling(world, chunks, o.count, `copy_${shape}_end`));
        if (o.telemetry) tCeilings.push(await ceiling(world, tChunks, o.count, `tcopy_${shape}_end`, "telemetry"));
      }
    }
    chunks = [];
    tChunks = [];
    const rows: string[][] = [[
      label,
      "rows/s",
      "× COPY",
      "service µs/row",
      "Redis µs/row",
      "PostgreSQL µs/row",
      "total µs/row",
      "bound on 2 cores",
      "peak RSS",
    ]];
    const shapeResult = report(rows, "", ceilings, variants.map((v) => [v, drains.get(v.name)!]));
    if (o.telemetry) {
      const t = report(rows, "telemetry: ", tCeilings, [[tVariant, tDrains]]);
      shapeResult.telemetry = t;
      const ratio = (r: Record<string, unknown>) => (r.defaults as { ratio: number }).ratio;
      printLine(
        `  defaults, each against its own COPY ceiling: telemetry layout ${f2(ratio(t))} × COPY, ` +
          `readings layout ${f2(ratio(shapeResult))} × COPY`,
      );
    }
    printTable(rows);
    result[shape] = shapeResult;
  }
  if (o.steady) {
    const steadyVariants: Variant[] = [{ name: "defaults", env: {} }];
    if (o.compare) steadyVariants.push({ name: `defaults @${o.compare}`, env: {}, root: o.compare });
    const live: Record<string, unknown> = {};
    for (const [i, v] of steadyVariants.entries()) {
      const prefix = `${world.prefix}l${i}`;
      const st = await steady(world, {
        streams: shapeStreams("sensor", prefix, o.streams),
        pattern: `${prefix}:*`,
        rate: o.rate,
        seconds: o.steadySec,
        env: o.extraEnv,
        tag: String(i),
      }, v);
      printLine(
        `\nlive traffic (readings layout), ${v.name}: ${f0(st.rate)} msg/s (achieved ${
          f0(st.achievedRate)
        }) over ${o.streams} streams ` +
          `for ${st.seconds} s, ${f0(st.rows)} rows: XADD → committed row p50 ${f1(st.p50Ms)} ms, ` +
          `p99 ${f1(st.p99Ms)} ms, max ${f1(st.maxMs)} ms`,
      );
      live[v.name] = st;
    }
    result.steady = live;
  }
  await Deno.mkdir(new URL("./results/", import.meta.url), { recursive: true }).catch(() => {});
  await Deno.writeTextFile(o.out, JSON.stringify(result, null, 2) + "\n");
  printLine(`written ${o.out}`);
}
