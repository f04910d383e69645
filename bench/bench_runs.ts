/**
 * The bench's measurements, each on a freshly migrated table of the service's
 * shape (either layout): the COPY ceiling, a backlog drain by the service, and
 * live traffic latency (readings layout). CPU per row is split by process
 * (service, Redis, PostgreSQL).
 */
import { Readable } from "node:stream";
import type { World } from "../tests/_helpers/world.ts";
import { migratorFor } from "../src/sink/migrations/prepare.ts";
import type { Layout } from "../src/sink/layout.ts";
import { logger } from "../src/log.ts";
import { shapeMessage } from "./bench_data.ts";
import { backendsOf, CpuMeter, cpuSeconds, peakRssMb } from "./bench_proc.ts";
import { startService } from "./bench_service.ts";

/** CPU microseconds per row, by process. */
export interface CpuPerRow {
  readonly service: number;
  readonly redis: number;
  readonly postgres: number;
}

/** One way of running the service: extra environment and, optionally, other V8 flags. */
export interface Variant {
  readonly name: string;
  readonly env: Record<string, string>;
  readonly v8Flags?: string;
  /** Run the service of another checkout of the project (a baseline commit, say). */
  readonly root?: string;
}

/** A freshly migrated table of `layout` (a telemetry table references `devices` when the schema has one). */
export async function migratedTable(world: World, name: string, layout: Layout = "readings"): Promise<string> {
  const table = { schema: world.schema, name };
  await (await migratorFor(world.sql, { tableLayout: layout, table, enableTimescale: false }, logger("bench"))).up();
  return `${world.schema}.${name}`;
}

/** The COPY the ceiling runs: every column the service writes in that layout. */
const COPY_COLUMNS: Readonly<Record<Layout, string>> = {
  readings: `("timestamp", device_id, sensor_type, value, metadata, source_stream, source_id)`,
  telemetry: `("time", device_id, metric, value, unit)`,
};

export const quoted = (table: string) => table.split(".").map((p) => `"${p}"`).join(".");

/** The service's environment in `world`: its defaults, except where `env` says otherwise. */
function serviceEnv(world: World, env: Record<string, string>): Record<string, string> {
  const out = world.env(env);
  // World's fast polling suits tests; the bench measures the defaults.
  for (const name of ["BATCH_TIMEOUT_SEC", "DISCOVERY_INTERVAL_SEC", "STATS_INTERVAL_SEC"]) {
    if (!(name in env)) delete out[name];
  }
  return out;
}

/** The ceiling: one COPY FROM STDIN of every row into a freshly migrated table, on one connection. */
export async function ceiling(
  world: World,
  chunks: readonly string[],
  rows: number,
  name: string,
  layout: Layout = "readings",
) {
  const table = await migratedTable(world, name, layout);
  const copy = `COPY ${quoted(table)} ${COPY_COLUMNS[layout]} FROM STDIN`;
  const conn = await world.sql.reserve();
  try {
    const [b] = await conn.unsafe(`SELECT pg_backend_pid() AS pid`);
    const pid = Number(b?.pid);
    const cpu0 = await cpuSeconds(pid);
    const started = performance.now();
    const writable = await conn.unsafe(copy).writable();
    await new Promise<void>((resolve, reject) => {
      Readable.from(chunks).pipe(writable).on("finish", () => resolve()).on("error", reject);
    });
    const seconds = (performance.now() - started) / 1000;
    const cpu = (await cpuSeconds(pid)) - cpu0;
    const [row] = await conn.unsafe(`SELECT count(*)::int AS n FROM ${quoted(table)}`);
    if (Number(row?.n) !== rows) throw new Error(`COPY stored ${row?.n} rows, expected ${rows}`);
    await conn.unsafe(`DROP TABLE ${quoted(table)}`);
    return { rowsPerSec: rows / seconds, seconds, postgresUsPerRow: (cpu / rows) * 1e6 };
  } finally {
    conn.release();
  }
}

/**
 * End to end: one service instance in a fresh group drains the backlog of
 * `pattern` into a fresh table (telemetry: `variant.env` sets the layout,
 * and `lastTime` is the time of the backlog's last row).
 */
export async function drain(
  world: World,
  opts: { pattern: string; count: number; redisPid?: number; tag: string; layout?: Layout; lastTime?: string },
  variant: Variant,
) {
  const layout = opts.layout ?? "readings";
  const table = await migratedTable(world, `drain_${opts.tag}`, layout);
  const group = `${world.group}_${opts.tag}`;
  const env = serviceEnv(world, {
    STREAM_PATTERN: opts.pattern,
    TABLE_NAME: table,
    CONSUMER_GROUP_NAME: group,
    ...variant.env,
  });
  // The service creates its group at the start of each stream, so the whole
  // backlog is there before the clock starts (at `consuming`).
  const service = startService(env, variant.v8Flags, variant.root);
  const pid = service.child.pid;
  await service.consuming;
  const started = performance.now();
  const own = new CpuMeter(), redis = new CpuMeter(), pg = new CpuMeter();
  await own.start([pid]);
  if (opts.redisPid) await redis.start([opts.redisPid]);
  await pg.start(await backendsOf(world.sql, pid));
  const q = quoted(table);
  // Cheap polls (an index's last entry) until the end is near, then count(*).
  const near = layout === "readings"
    ? () => world.sql.unsafe(`SELECT coalesce(max(id), 0)::bigint >= $1 AS ok FROM ${q}`, [opts.count])
    : () =>
      world.sql.unsafe(`SELECT coalesce(max("time") >= $1::timestamptz, false) AS ok FROM ${q}`, [
        opts.lastTime ?? null,
      ]);
  const giveUp = async (why: string): Promise<never> => {
    await service.stop().catch(() => {});
    throw new Error(`${opts.tag}: ${why}`);
  };
  let polls = 0;
  let backends: number[] = [];
  while (true) {
    const [m] = await near();
    if (m?.ok) {
      const [c] = await world.sql.unsafe(`SELECT count(*)::int AS n FROM ${q}`);
      if (Number(c?.n) >= opts.count) break;
    }
    if (polls++ % 4 === 0) {
      backends = await backendsOf(world.sql, pid);
      await pg.sample(backends);
      // A dead-lettered message (out of range, device not registered) would never become a row.
      const [dead] = await world.redis.xrange(world.deadLetterStream, "-", "+", "COUNT", 1);
      if (dead) await giveUp(`a message was dead-lettered: ${dead[1].join(" ")}`);
    }
    if (performance.now() - started > 1_800_000) await giveUp("not drained within 30 minutes");
    await new Promise((r) => setTimeout(r, 50));
  }
  const seconds = (performance.now() - started) / 1000;
  await own.sample([pid]);
  if (opts.redisPid) await redis.sample([opts.redisPid]);
  await pg.sample([...new Set([...backends, ...await backendsOf(world.sql, pid)])]);
  const peak = await peakRssMb(pid);
  await service.stop();
  const [c] = await world.sql.unsafe(`SELECT count(*)::int AS n FROM ${q}`);
  if (Number(c?.n) !== opts.count) throw new Error(`${opts.tag}: ${c?.n} rows, expected exactly ${opts.count}`);
  await world.sql.unsafe(`DROP TABLE ${q}`);
  const us = (s: number) => (s / opts.count) * 1e6;
  const cpu: CpuPerRow = { service: us(own.seconds), redis: us(redis.seconds), postgres: us(pg.seconds) };
  return { rowsPerSec: opts.count / seconds, seconds, peakRssMb: peak, cpu };
}

/**
 * Live traffic: `rate` msg/s over `streams` for `seconds`; per row, the time
 * from its entry id's milliseconds (Redis's clock at XADD) to the moment it
 * was written inside the committing transaction (`clock_timestamp()`, a
 * column only this bench table has; the commit follows within the rest of
 * that batch's COPY). Same machine, same clock; no polling involved. Rows
 * of the first second (warm-up) are not counted.
 */
export async function steady(
  world: World,
  opts: {
    streams: readonly string[];
    pattern: string;
    rate: number;
    seconds: number;
    env: Record<string, string>;
    tag: string;
  },
  variant: Variant,
) {
  const table = await migratedTable(world, `steady_${opts.tag}`);
  const q = quoted(table);
  await world.sql.unsafe(`ALTER TABLE ${q} ADD COLUMN written_at timestamptz DEFAULT clock_timestamp()`);
  const group = `${world.group}_steady_${opts.tag}`;
  const pipe = world.redis.pipeline();
  for (const s of opts.streams) pipe.xgroup("CREATE", s, group, "$", "MKSTREAM");
  await pipe.exec();
  const env = serviceEnv(world, {
    STREAM_PATTERN: opts.pattern,
    TABLE_NAME: table,
    CONSUMER_GROUP_NAME: group,
    ...opts.env,
    ...variant.env,
  });
  const service = startService(env, variant.v8Flags, variant.root);
  await service.consuming;
  // The first second is warm-up (compilation of the hot paths), sent but not counted.
  const warmup = opts.rate;
  const total = warmup + opts.rate * opts.seconds;
  const started = performance.now();
  let sent = 0, countFromMs = 0;
  while (sent < total) {
    if (sent >= warmup && countFromMs === 0) countFromMs = Date.now();
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * opts.rate));
    if (sent < due) {
      const p = world.redis.pipeline();
      for (; sent < due; sent++) {
        const m = shapeMessage("sensor", opts.streams, sent, Date.now());
        p.xadd(m.stream, "*", ...m.fields);
      }
      await p.exec();
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  const sendSeconds = (performance.now() - started) / 1000 - 1;
  while (true) {
    const [c] = await world.sql.unsafe(`SELECT count(*)::int AS n FROM ${q}`);
    if (Number(c?.n) >= total) break;
    if (performance.now() - started > (opts.seconds + 120) * 1000) throw new Error("live traffic: rows missing");
    await new Promise((r) => setTimeout(r, 200));
  }
  await service.stop();
  const [r] = await world.sql.unsafe(
    `SELECT count(*)::int AS n,
            percentile_disc(0.5) WITHIN GROUP (ORDER BY ms) AS p50,
            percentile_disc(0.99) WITHIN GROUP (ORDER BY ms) AS p99,
            max(ms) AS max
       FROM (SELECT extract(epoch FROM written_at) * 1000 - split_part(source_id, '-', 1)::bigint AS ms
               FROM ${q} WHERE split_part(source_id, '-', 1)::bigint >= $1) l`,
    [countFromMs],
  );
  await world.sql.unsafe(`DROP TABLE ${q}`);
  return {
    rate: opts.rate,
    seconds: opts.seconds,
    achievedRate: (total - warmup) / sendSeconds,
    rows: Number(r?.n),
    p50Ms: Number(r?.p50),
    p99Ms: Number(r?.p99),
    maxMs: Number(r?.max),
  };
}
