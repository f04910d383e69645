/**
 * How long a new stream's first reading takes to become a row (XADD → row),
 * with 10, 1,000 and 10,000 streams already consumed, and what watching for
 * new streams costs Redis while the service is otherwise idle, for each way
 * of noticing them (NEW_STREAM_NOTIFY): `notify` (the server has
 * `notify-keyspace-events En`), `poll` (it has not: DBSIZE every second) and
 * `scan` (NEW_STREAM_NOTIFY=off: the DISCOVERY_INTERVAL_SEC scan alone).
 *
 *   deno task bench:discovery                       # 10, 1000, 10000 streams, 5 samples each
 *   deno task bench:discovery --streams 10,1000 --samples 3 --idle-sec 10
 *
 * Each run has a redis-server of its own (so that its CPU time is the
 * service's doing, and its notification setting is free to choose); the
 * service runs with its defaults (DISCOVERY_INTERVAL_SEC=5, BATCH_TIMEOUT_SEC=5).
 * Redis CPU is read from /proc/<pid>/stat over an idle window.
 */
import { createWorld } from "../tests/_helpers/world.ts";
import { spawnService } from "../tests/_helpers/process.ts";
import { privateRedis } from "../tests/_helpers/redis_server.ts";
import { printLine } from "../src/log.ts";

type Mode = "notify" | "poll" | "scan";

interface Options {
  streams: number[];
  samples: number;
  idleSec: number;
  modes: Mode[];
}

function parseArgs(args: string[]): Options {
  const o: Options = { streams: [10, 1000, 10_000], samples: 5, idleSec: 15, modes: ["notify", "poll", "scan"] };
  for (let i = 0; i < args.length; i += 2) {
    const flag = args[i], value = args[i + 1] ?? "";
    if (flag === "--streams") o.streams = value.split(",").map(Number);
    else if (flag === "--samples") o.samples = Number(value);
    else if (flag === "--idle-sec") o.idleSec = Number(value);
    else if (flag === "--modes") o.modes = value.split(",") as Mode[];
    else throw new Error(`unknown option ${flag}; expected --streams, --samples, --idle-sec or --modes`);
  }
  return o;
}

const TICKS_PER_SEC = 100;

/** CPU seconds (user + system) a process has used so far. */
function cpuSec(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SEC;
}

/** INFO commandstats as command → calls. */
async function commandCalls(redis: { info(section: string): Promise<string> }): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await redis.info("commandstats")).split("\n")) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

async function until(what: string, fn: () => Promise<boolean>, timeoutMs: number, everyMs = 20): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

interface Result {
  streams: number;
  mode: Mode;
  latencyMs: number[];
  redisCpuMsPerSec: number;
  baselineCpuMsPerSec: number;
  callsPerSec: string;
}

async function runOne(n: number, mode: Mode, opts: Options): Promise<Result> {
  await using server = await privateRedis(mode === "notify" ? ["--notify-keyspace-events", "En"] : []);
  await using world = await createWorld();
  const redis = server.client;
  for (let from = 0; from < n; from += 1000) {
    const p = redis.pipeline();
    for (let i = from; i < Math.min(n, from + 1000); i++) {
      p.xadd(`${world.prefix}:dev-${i}:temperature`, "*", "value", "20.5", "timestamp", "2026-12-01T10:00:00Z");
    }
    await p.exec();
  }
  // The server's own idle cost (its timers), before the service connects.
  const base0 = cpuSec(server.pid), b0 = performance.now();
  await new Promise((r) => setTimeout(r, opts.idleSec * 1000));
  const baselineCpuMsPerSec = ((cpuSec(server.pid) - base0) * 1000) / ((performance.now() - b0) / 1000);
  await using svc = spawnService(
    ["run"],
    world.env({
      REDIS_URL: `redis://127.0.0.1:${server.port}/0`,
      NEW_STREAM_NOTIFY: mode === "scan" ? "off" : "auto",
      DISCOVERY_INTERVAL_SEC: "5",
      BATCH_TIMEOUT_SEC: "5",
      STATS_INTERVAL_SEC: "60",
      LOG_LEVEL: "warning",
    }),
  );
  const count = async () =>
    Number((await world.sql.unsafe(`SELECT count(*) AS n FROM ${world.table}`).catch(() => [{ n: 0 }]))[0]!.n);
  await until(`${n} rows`, async () => (await count()) >= n, 600_000, 200);

  // Idle: what the service costs Redis when nothing moves.
  await new Promise((r) => setTimeout(r, 2000));
  const cpu0 = cpuSec(server.pid), calls0 = await commandCalls(redis), t0 = performance.now();
  await new Promise((r) => setTimeout(r, opts.idleSec * 1000));
  const cpu1 = cpuSec(server.pid), calls1 = await commandCalls(redis), wall = (performance.now() - t0) / 1000;
  const rates = [...calls1].map(([cmd, c]) => [cmd, (c - (calls0.get(cmd) ?? 0)) / wall] as const)
    .filter(([cmd, r]) => r >= 0.05 && cmd !== "info").sort((a, b) => b[1] - a[1]).slice(0, 4)
    .map(([cmd, r]) => `${cmd} ${r.toFixed(1)}`).join(", ");

  const latencyMs: number[] = [];
  for (let k = 0; k < opts.samples; k++) {
    const stream = `${world.prefix}:new-${k}:temperature`;
    const start = performance.now();
    await redis.xadd(stream, "*", "value", "21.5", "timestamp", "2026-12-01T10:00:00Z");
    await until(`the row of ${stream}`, async () => {
      const rows = await world.sql.unsafe(`SELECT 1 FROM ${world.table} WHERE source_stream = $1`, [stream]);
      return rows.length > 0;
    }, 60_000);
    latencyMs.push(Math.round(performance.now() - start));
    // Land at different moments of the reader's cycle.
    await new Promise((r) => setTimeout(r, 700 + Math.random() * 1500));
  }
  svc.kill("SIGTERM");
  await svc.status;
  return {
    streams: n,
    mode,
    latencyMs,
    redisCpuMsPerSec: ((cpu1 - cpu0) * 1000) / wall,
    baselineCpuMsPerSec,
    callsPerSec: rates,
  };
}

const opts = parseArgs(Deno.args);
const results: Result[] = [];
printLine("| streams | mode | XADD → row, median | slowest | Redis CPU while idle | commands/s while idle |");
printLine("| ---: | --- | ---: | ---: | ---: | --- |");
for (const n of opts.streams) {
  for (const mode of opts.modes) {
    const r = await runOne(n, mode, opts);
    results.push(r);
    const sorted = [...r.latencyMs].sort((a, b) => a - b);
    printLine(
      `| ${n.toLocaleString("en")} | ${mode} | ${sorted[Math.floor(sorted.length / 2)]} ms | ` +
        `${sorted.at(-1)} ms | ${r.redisCpuMsPerSec.toFixed(1)} ms/s (idle server ${
          r.baselineCpuMsPerSec.toFixed(1)
        }) | ` +
        `${r.callsPerSec} |`,
    );
  }
}
