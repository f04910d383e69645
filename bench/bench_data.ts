/**
 * Bench data and measurement helpers: seed-shaped messages, their preload
 * into Redis, the COPY text of the rows the service would store, and
 * process counters read from /proc.
 */
import type { Redis } from "ioredis";
import type { Sql } from "../src/sink/client.ts";
import { parseInstant } from "../src/decode/instant.ts";

/** Sensor types of the generated per-sensor streams. */
const SENSORS = ["temperature", "humidity", "pressure", "co2"];

/** The per-sensor stream keys `${prefix}:dev-NNN:${sensor}`. */
export function streamKeys(prefix: string, count: number): string[] {
  return Array.from(
    { length: count },
    (_, i) => `${prefix}:dev-${String(Math.floor(i / SENSORS.length)).padStart(3, "0")}:${SENSORS[i % SENSORS.length]}`,
  );
}

/** One message as XADDed: its stream and the seed's fields. */
export interface BenchMessage {
  readonly stream: string;
  readonly value: string;
  readonly timestamp: string;
  readonly metadata: string;
}

/** The i-th message of a run: Python's naive `isoformat()` timestamps with microseconds, as upstream writes them. */
export function message(streams: readonly string[], i: number, atMs: number): BenchMessage {
  const iso = new Date(atMs).toISOString();
  const micros = String(i % 1000).padStart(3, "0");
  return {
    stream: streams[i % streams.length]!,
    value: (20 + (i % 1000) / 100).toFixed(2),
    timestamp: `${iso.slice(0, 23)}${micros}`,
    metadata: `{"fw":"1.4.${i % 7}","rssi":${-40 - (i % 50)},"seq":${i}}`,
  };
}

/** A row as COPY text, exactly what the service stores for `m` with entry id `id`. */
export function copyLine(m: BenchMessage, id: string): string {
  const parts = m.stream.split(":");
  const time = parseInstant(m.timestamp)!;
  return `${time}\t${parts[1]}\t${parts.slice(2).join(":")}\t${m.value}\t${m.metadata}\t${m.stream}\t${id}\n`;
}

/** Units the telemetry layout gives the bench's sensors (its built-in table). */
const UNITS: Readonly<Record<string, string>> = { temperature: "°C", humidity: "%", pressure: "hPa", co2: "ppm" };

/** A row of the telemetry layout as COPY text: time, device_id, metric, value, unit. */
export function telemetryLine(m: BenchMessage): string {
  const parts = m.stream.split(":");
  const metric = parts.slice(2).join(":");
  return `${parseInstant(m.timestamp)!}\t${parts[1]}\t${metric}\t${m.value}\t${UNITS[metric] ?? "\\N"}\n`;
}

/** The telemetry table references `devices(id)`: create it, as the dashboard has it, with every device of `streams`. */
export async function registerDevices(
  world: { sql: Sql; schema: string },
  streams: readonly string[],
): Promise<void> {
  const ids = [...new Set(streams.map((s) => s.split(":")[1]!))];
  await world.sql.unsafe(`CREATE TABLE "${world.schema}".devices (id TEXT PRIMARY KEY, name TEXT NOT NULL)`);
  await world.sql.unsafe(
    `INSERT INTO "${world.schema}".devices SELECT i, i FROM unnest($1::text[]) AS i`,
    [ids],
  );
}

/**
 * XADDs `count` messages spread over `streams`, pipelined; returns the COPY
 * text of the rows they become (`line`; with their real entry ids), in chunks.
 */
export async function preload(
  redis: Redis,
  streams: readonly string[],
  count: number,
  line: (m: BenchMessage, id: string) => string = copyLine,
): Promise<string[]> {
  const chunks: string[] = [];
  const base = Date.UTC(2026, 10, 28, 10);
  const step = 10_000;
  for (let from = 0; from < count; from += step) {
    const pipe = redis.pipeline();
    const batch: BenchMessage[] = [];
    for (let i = from; i < Math.min(from + step, count); i++) {
      const m = message(streams, i, base + i * 10);
      batch.push(m);
      pipe.xadd(m.stream, "*", "value", m.value, "timestamp", m.timestamp, "metadata", m.metadata);
    }
    const replies = (await pipe.exec()) ?? [];
    let text = "";
    for (let j = 0; j < batch.length; j++) {
      const [err, id] = replies[j]!;
      if (err) throw err;
      text += line(batch[j]!, String(id));
    }
    chunks.push(text);
  }
  return chunks;
}

/** Peak resident memory (VmHWM) of a process in MB, or NaN off Linux. */
export async function peakRssMb(pid: number): Promise<number> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
  } catch {
    return NaN;
  }
}

/** User + system CPU seconds a process has used so far, or NaN off Linux. */
export async function cpuSeconds(pid: number): Promise<number> {
  try {
    const fields = (await Deno.readTextFile(`/proc/${pid}/stat`)).split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, clock ticks of 10 ms
  } catch {
    return NaN;
  }
}

/** The value at quantile `q` (0..1) of `sorted`, ascending. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}
