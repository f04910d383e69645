/**
 * Bench data: the two message shapes of the contract (per-sensor streams and
 * the one shared `mqtt:ingestion`-like stream), their preload into Redis, and
 * the COPY text of the rows the service stores for them.
 */
import type { Redis } from "ioredis";
import { parseInstant } from "../src/decode/instant.ts";

/** Sensor types of the generated per-sensor streams. */
const SENSORS = ["temperature", "humidity", "pressure", "co2"];

/** The shapes of input the bench measures. */
export type Shape = "sensor" | "shared";

/** The per-sensor stream keys `${prefix}:dev-NNN:${sensor}`. */
export function streamKeys(prefix: string, count: number): string[] {
  return Array.from(
    { length: count },
    (_, i) => `${prefix}:dev-${String(Math.floor(i / SENSORS.length)).padStart(3, "0")}:${SENSORS[i % SENSORS.length]}`,
  );
}

/** The streams of one shape under `prefix`: 400 per-sensor streams, say, or the one shared stream. */
export function shapeStreams(shape: Shape, prefix: string, perSensorStreams: number): string[] {
  return shape === "sensor" ? streamKeys(prefix, perSensorStreams) : [`${prefix}:ingestion`];
}

/** One message as XADDed: its stream, its fields, and the row it becomes (all but the entry id). */
export interface BenchMessage {
  readonly stream: string;
  readonly fields: readonly string[];
  /** COPY text of the row up to (excluding) the entry id: time, device, sensor, value, metadata, stream. */
  readonly rowPrefix: string;
}

/** Python's naive `isoformat()` with microseconds, as upstream writes timestamps. */
function naiveIso(atMs: number, i: number): string {
  return `${new Date(atMs).toISOString().slice(0, 23)}${String(i % 1000).padStart(3, "0")}`;
}

/** The i-th per-sensor message: the seed's fields (`value`, `timestamp`, `metadata`). */
export function message(streams: readonly string[], i: number, atMs: number): BenchMessage {
  const stream = streams[i % streams.length]!;
  const value = (20 + (i % 1000) / 100).toFixed(2);
  const timestamp = naiveIso(atMs, i);
  const metadata = `{"fw":"1.4.${i % 7}","rssi":${-40 - (i % 50)},"seq":${i}}`;
  const parts = stream.split(":");
  return {
    stream,
    fields: ["value", value, "timestamp", timestamp, "metadata", metadata],
    rowPrefix: `${parseInstant(timestamp)}\t${parts[1]}\t${parts.slice(2).join(":")}\t${value}\t${metadata}\t${stream}`,
  };
}

/** The i-th shared-stream message, as the upstream ingestion service writes it (no metadata). */
export function sharedMessage(stream: string, i: number, atMs: number): BenchMessage {
  const device = `dev-${String(i % 100).padStart(3, "0")}`;
  const metric = SENSORS[Math.floor(i / 100) % SENSORS.length]!;
  const value = String(20 + (i % 1000) / 100); // Python's str(float): "21.5", "20.0" is written "20" here
  const timestamp = naiveIso(atMs, i);
  return {
    stream,
    fields: ["device_id", device, "metric", metric, "value", value, "timestamp", timestamp],
    rowPrefix: `${parseInstant(timestamp)}\t${device}\t${metric}\t${value}\t\\N\t${stream}`,
  };
}

/** The i-th message of a shape. */
export function shapeMessage(shape: Shape, streams: readonly string[], i: number, atMs: number): BenchMessage {
  return shape === "sensor" ? message(streams, i, atMs) : sharedMessage(streams[0]!, i, atMs);
}

/**
 * XADDs `count` messages of `shape` spread over `streams`, pipelined; returns
 * the COPY text of the rows they become (with their real entry ids), in chunks.
 */
export async function preload(
  redis: Redis,
  shape: Shape,
  streams: readonly string[],
  count: number,
): Promise<string[]> {
  const chunks: string[] = [];
  const base = Date.UTC(2026, 10, 28, 10);
  const step = 10_000;
  for (let from = 0; from < count; from += step) {
    const pipe = redis.pipeline();
    const batch: BenchMessage[] = [];
    for (let i = from; i < Math.min(from + step, count); i++) {
      const m = shapeMessage(shape, streams, i, base + i * 10);
      batch.push(m);
      pipe.xadd(m.stream, "*", ...m.fields);
    }
    const replies = (await pipe.exec()) ?? [];
    let text = "";
    for (let j = 0; j < batch.length; j++) {
      const [err, id] = replies[j]!;
      if (err) throw err;
      text += `${batch[j]!.rowPrefix}\t${id}\n`;
    }
    chunks.push(text);
  }
  return chunks;
}

/** The value at quantile `q` (0..1) of `sorted`, ascending. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** The median of `values` (NaN when empty). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
