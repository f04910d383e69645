/**
 * What the two clients cost the service per row, each alone: reading a
 * backlog with the Redis client (string replies, as the service reads, and
 * Buffer replies), and one COPY statement per batch through the service's own
 * copyIn at several batch sizes (text built beforehand). CPU from /proc: this
 * process (all threads) and the COPY's PostgreSQL backend.
 *
 *   deno task bench:clients                  # 300,000 entries over 400 per-sensor streams
 *   deno task bench:clients --count 100000
 */
import { createWorld } from "../tests/_helpers/world.ts";
import { printLine } from "../src/log.ts";
import { connectPostgres } from "../src/sink/client.ts";
import { copyIn } from "../src/sink/copy.ts";
import { DATABASE_URL } from "../tests/_helpers/services.ts";
import { preload, streamKeys } from "./bench_data.ts";
import { cpuSeconds } from "./bench_proc.ts";
import { migratedTable, quoted } from "./bench_runs.ts";

const args = Deno.args;
const at = args.indexOf("--count");
const count = at >= 0 ? Number(args[at + 1]) : 300_000;
if (!Number.isInteger(count) || count < 1000) throw new Error(`--count: expected an integer ≥ 1000`);

await using world = await createWorld();
const streams = streamKeys(`${world.prefix}c`, 400);
const chunks = await preload(world.redis, "sensor", streams, count);
const f2 = (n: number) => n.toFixed(2);
printLine(
  `clients bench ${new Date().toISOString()}: ${count} entries over 400 streams; load ${Deno.loadavg()[0]!.toFixed(2)}`,
);

// Reading: XREADGROUP COUNT 50 over rotating windows of 10 streams (the backlog window at BATCH_SIZE=500).
type Reader = (...a: (string | number)[]) => Promise<[unknown, unknown[]][] | null>;
const redis = world.redis as unknown as Record<"xreadgroup" | "xreadgroupBuffer", Reader>;
for (const replies of ["string", "Buffer", "string", "Buffer"] as const) {
  const group = `g${Math.random().toString(36).slice(2)}`;
  for (const s of streams) await world.redis.xgroup("CREATE", s, group, "0");
  const read = replies === "string" ? redis.xreadgroup.bind(redis) : redis.xreadgroupBuffer.bind(redis);
  const cpu0 = await cpuSeconds(Deno.pid);
  let n = 0;
  for (let from = 0; n < count; from += 10) {
    const w = Array.from({ length: 10 }, (_, k) => streams[(from + k) % streams.length]!);
    const reply = await read("GROUP", group, "c", "COUNT", 50, "STREAMS", ...w, ...w.map(() => ">"));
    for (const [, list] of reply ?? []) n += list.length;
  }
  const us = ((await cpuSeconds(Deno.pid)) - cpu0) * 1e6 / n;
  printLine(`  XREADGROUP, ${replies} replies: ${f2(us)} µs client CPU per entry`);
  for (const s of streams) await world.redis.xgroup("DESTROY", s, group);
}

// Writing: one COPY per batch, text ready, on one connection with the service's socket options.
const lines = chunks.join("").split("\n").slice(0, -1);
const sql = connectPostgres(DATABASE_URL, { max: 1 });
try {
  const table = await migratedTable(world, "clients_copy");
  const [b] = await sql`SELECT pg_backend_pid() AS pid`;
  const pid = Number(b!.pid);
  const copy = `COPY ${
    quoted(table)
  } ("timestamp", device_id, sensor_type, value, metadata, source_stream, source_id) FROM STDIN`;
  for (const size of [100, 500, 2000, 100, 500, 2000]) {
    await sql.unsafe(`TRUNCATE ${quoted(table)}`);
    const batches: string[] = [];
    for (let i = 0; i < lines.length; i += size) batches.push(lines.slice(i, i + size).join("\n") + "\n");
    const cpu0 = await cpuSeconds(Deno.pid), pg0 = await cpuSeconds(pid);
    for (const text of batches) await copyIn(sql, copy, text);
    const mine = ((await cpuSeconds(Deno.pid)) - cpu0) * 1e6 / lines.length;
    const pg = ((await cpuSeconds(pid)) - pg0) * 1e6 / lines.length;
    printLine(
      `  COPY of ${size} rows per statement: ${f2(mine)} µs client CPU per row ` +
        `(${f2(mine * size / 1000)} ms per statement), PostgreSQL ${f2(pg)} µs per row`,
    );
  }
} finally {
  await sql.end();
}
