/**
 * End-to-end benchmark: throughput of the service against the database's own
 * ingest ceiling, measured in the same run on the same machine.
 *
 *   deno task bench            # BENCH_ROWS=100000 BENCH_STREAMS=10 BENCH_BATCH=500 by default
 *
 * Baselines: raw COPY of the same rows (the ceiling), and the service's own
 * batch INSERT without Redis. Reported as ratios, since absolute numbers on a
 * shared machine mean little. Peak memory of the service process is read
 * from /proc (VmHWM).
 */
import { Readable } from "node:stream";
import { createWorld, spawnService, waitFor } from "../tests/helpers.ts";
import { PostgresSink } from "../src/sink/writer.ts";
import { loadMigrations, Migrator } from "../src/sink/migrate.ts";
import type { Reading } from "../src/reading.ts";
import { logger, printLine } from "../src/log.ts";

const ROWS = Number(Deno.env.get("BENCH_ROWS") ?? 100_000);
const STREAMS = Number(Deno.env.get("BENCH_STREAMS") ?? 10);
const BATCH = Number(Deno.env.get("BENCH_BATCH") ?? 500);

function makeReadings(n: number, tag: string): Reading[] {
  const base = Date.UTC(2026, 10, 28, 10);
  return Array.from({ length: n }, (_, i) => ({
    time: new Date(base + i).toISOString(),
    deviceId: `dev${i % STREAMS}`,
    sensorType: "temperature",
    value: 20 + (i % 100) / 10,
    metadata: { firmware: "1.2.3", rssi: -60 - (i % 20) },
    sourceStream: `${tag}:dev${i % STREAMS}:temperature`,
    sourceId: `${base + i}-0`,
  }));
}

async function migrated(world: Awaited<ReturnType<typeof createWorld>>, name: string) {
  const [schema] = [world.schema];
  const table = { schema, name };
  await new Migrator(world.sql, {
    table,
    enableTimescale: false,
    migrations: await loadMigrations(),
    log: logger("bench"),
  }).up();
  return table;
}

const esc = (s: string) =>
  s.replace(/[\\\t\n\r]/g, (c) => ({ "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" })[c]!);

function copyText(rows: readonly Reading[]): string {
  return rows.map((r) =>
    [r.time, r.deviceId, r.sensorType, String(r.value), esc(JSON.stringify(r.metadata)), r.sourceStream, r.sourceId]
      .join("\t") + "\n"
  ).join("");
}

function copyStatement(table: { schema?: string; name: string }): string {
  return `COPY "${table.schema}"."${table.name}" ` +
    `("timestamp", device_id, sensor_type, value, metadata, source_stream, source_id) FROM STDIN`;
}

/** The ceiling: one COPY of every row. */
async function copyRowsPerSec(world: Awaited<ReturnType<typeof createWorld>>): Promise<number> {
  const table = await migrated(world, "copy_baseline");
  const rows = makeReadings(ROWS, "copy");
  const started = performance.now();
  const writable = await world.sql.unsafe(copyStatement(table)).writable();
  const chunks = (function* () {
    for (let i = 0; i < rows.length; i += 1000) yield copyText(rows.slice(i, i + 1000));
  })();
  await new Promise<void>((resolve, reject) => {
    Readable.from(chunks).pipe(writable).on("finish", () => resolve()).on("error", reject);
  });
  return ROWS / ((performance.now() - started) / 1000);
}

/** The alternative writer: one COPY per batch (no ON CONFLICT possible, shown for the choice). */
async function copyPerBatchRowsPerSec(world: Awaited<ReturnType<typeof createWorld>>): Promise<number> {
  const table = await migrated(world, "copy_batches");
  const rows = makeReadings(Math.min(ROWS, 20_000), "copyb");
  const started = performance.now();
  for (let i = 0; i < rows.length; i += BATCH) {
    const writable = await world.sql.unsafe(copyStatement(table)).writable();
    await new Promise<void>((resolve, reject) => {
      writable.on("error", reject);
      writable.on("finish", () => resolve());
      writable.end(copyText(rows.slice(i, i + BATCH)));
    });
  }
  return rows.length / ((performance.now() - started) / 1000);
}

async function insertRowsPerSec(world: Awaited<ReturnType<typeof createWorld>>): Promise<number> {
  const table = await migrated(world, "insert_baseline");
  const sink = new PostgresSink(world.sql, table);
  const rows = makeReadings(ROWS, "insert");
  const started = performance.now();
  for (let i = 0; i < rows.length; i += BATCH) await sink.write(rows.slice(i, i + BATCH));
  return ROWS / ((performance.now() - started) / 1000);
}

async function endToEnd(world: Awaited<ReturnType<typeof createWorld>>) {
  // Pre-fill the streams (per-sensor shape), then time the service draining them.
  const base = Date.UTC(2026, 10, 28, 10);
  for (let i = 0; i < ROWS; i += 5000) {
    const pipe = world.redis.pipeline();
    for (let j = i; j < Math.min(i + 5000, ROWS); j++) {
      pipe.xadd(
        `${world.prefix}:dev${j % STREAMS}:temperature`,
        "*",
        "value",
        String(20 + (j % 100) / 10),
        "timestamp",
        new Date(base + j).toISOString().replace("Z", ""),
        "metadata",
        JSON.stringify({ firmware: "1.2.3", rssi: -60 - (j % 20) }),
      );
    }
    await pipe.exec();
  }
  await using svc = spawnService(["run"], world.env({ BATCH_SIZE: String(BATCH), BATCH_TIMEOUT_SEC: "1" }));
  await svc.waitForLog((r) => r.message === "consuming", 60_000);
  const started = performance.now();
  let peakKb = 0;
  const table = `"${world.schema}"."sensor_readings"`;
  await waitFor(
    async () => {
      try {
        const status = await Deno.readTextFile(`/proc/${svc.child.pid}/status`);
        peakKb = Math.max(peakKb, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0));
      } catch { /* not on Linux */ }
      const [row] = await world.sql.unsafe(`SELECT count(*)::int AS n FROM ${table}`);
      return Number(row?.n) >= ROWS;
    },
    600_000,
    `${ROWS} rows`,
  );
  const seconds = (performance.now() - started) / 1000;
  let cpuSeconds = NaN;
  try {
    const fields = (await Deno.readTextFile(`/proc/${svc.child.pid}/stat`)).split(") ")[1]!.split(" ");
    cpuSeconds = (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks
  } catch { /* not on Linux */ }
  svc.kill("SIGTERM");
  const status = await svc.status;
  return { rowsPerSec: ROWS / seconds, seconds, peakMb: peakKb / 1024, cpuSeconds, exit: status.code };
}

if (import.meta.main) {
  await using world = await createWorld();
  printLine(`rows=${ROWS} streams=${STREAMS} batch=${BATCH}`);
  const copy = await copyRowsPerSec(world);
  printLine(`raw COPY:              ${Math.round(copy)} rows/s (baseline)`);
  const copyBatches = await copyPerBatchRowsPerSec(world);
  printLine(`COPY per batch:        ${Math.round(copyBatches)} rows/s = ${(copyBatches / copy).toFixed(2)} × COPY`);
  const insert = await insertRowsPerSec(world);
  printLine(`batch INSERT, no Redis: ${Math.round(insert)} rows/s = ${(insert / copy).toFixed(2)} × COPY`);
  const e2e = await endToEnd(world);
  printLine(
    `end to end:            ${Math.round(e2e.rowsPerSec)} rows/s = ${(e2e.rowsPerSec / copy).toFixed(2)} × COPY ` +
      `(${e2e.seconds.toFixed(1)} s, service CPU ${e2e.cpuSeconds.toFixed(1)} s incl. start-up, ` +
      `peak RSS ${e2e.peakMb.toFixed(0)} MB, exit ${e2e.exit})`,
  );
}
