/**
 * The simulator's message generator: realistic, drifting sensor readings in
 * both input shapes, with a chosen share of deliberately malformed ones.
 * Pure: randomness and time come in as parameters, so a seed replays a run.
 */

/** A source of uniform numbers in [0, 1), like `Math.random`. */
export type Rng = () => number;

/** Which input shape(s) to write. */
export type Shape = "per-sensor" | "shared" | "both";

/** What the generator needs to know. */
export interface GeneratorOptions {
  /** Number of devices, named `sim-001`, `sim-002`, … */
  readonly devices: number;
  /** Sensor types per device, e.g. `["temperature", "humidity"]`. */
  readonly sensors: readonly string[];
  readonly shape: Shape;
  /** Per-sensor streams are `${prefix}:${device}:${sensor}`. */
  readonly prefix: string;
  /** The shared stream's key, e.g. `mqtt:ingestion`. */
  readonly stream: string;
  /** Probability (0..1) that a message is deliberately malformed. */
  readonly badRatio: number;
  /**
   * Write the iotDashboard ingestion service's current messages (the
   * `telemetry` layout's input): the single stream only, fields device_id,
   * metric, value (as Python's str(float)) and a naive UTC timestamp, nothing else.
   */
  readonly telemetry?: boolean;
}

/** Ways a malformed message is broken; each makes the service reject it. */
export type Defect = "value" | "timestamp" | "missing-timestamp" | "missing-field" | "metadata";

/** One message to XADD. */
export interface SimMessage {
  readonly stream: string;
  readonly fields: Readonly<Record<string, string>>;
  /** Set when the message is deliberately malformed. */
  readonly defect?: Defect;
}

interface Profile {
  readonly base: number;
  readonly min: number;
  readonly max: number;
  readonly step: number;
  readonly decimals: number;
  readonly unit?: string;
}

const PROFILES: Readonly<Record<string, Profile>> = {
  temperature: { base: 20, min: 15, max: 25, step: 0.25, decimals: 2, unit: "°C" },
  humidity: { base: 50, min: 30, max: 70, step: 1, decimals: 1, unit: "%" },
  pressure: { base: 1013.25, min: 990, max: 1035, step: 0.4, decimals: 2, unit: "hPa" },
  co2: { base: 650, min: 400, max: 2000, step: 15, decimals: 0, unit: "ppm" },
  light: { base: 300, min: 0, max: 1000, step: 20, decimals: 0, unit: "lx" },
  battery: { base: 3.9, min: 3.3, max: 4.2, step: 0.005, decimals: 3, unit: "V" },
  noise: { base: 45, min: 30, max: 90, step: 1.5, decimals: 1, unit: "dB" },
  pm25: { base: 12, min: 0, max: 150, step: 1, decimals: 1, unit: "µg/m³" },
};
const GENERIC: Profile = { base: 50, min: 0, max: 100, step: 1, decimals: 2 };

const BAD_VALUES = ["n/a", "23,5", "NaN", "error", "--", "Infinity"];
const BAD_TIMESTAMPS = [
  "yesterday",
  "1732788000",
  "28/11/2026 10:00:00",
  "2026-13-01T00:00:00",
  "2026-02-30T10:00:00Z",
];
const BAD_METADATA = ["[1,2,3]", '"firmware 1.2.3"', "42", "null", "{firmware: 1.2.3}"];
const DEFECTS: readonly Defect[] = ["value", "timestamp", "missing-timestamp", "missing-field", "metadata"];
/** Defects of a message without metadata. */
const TELEMETRY_DEFECTS: readonly Defect[] = ["value", "timestamp", "missing-timestamp", "missing-field"];

/** A number as Python's str(float) writes it: always with a fraction (`650.0`). */
export function pythonFloat(v: number): string {
  return Number.isInteger(v) ? v.toFixed(1) : String(v);
}

/** How a device writes its timestamps (real devices differ; each keeps to one). */
type TimeStyle = "naive-micro" | "zulu-milli" | "offset-micro";
const STYLES: readonly TimeStyle[] = ["naive-micro", "zulu-milli", "offset-micro"];

function pick<T>(rng: Rng, list: readonly T[]): T {
  return list[Math.floor(rng() * list.length) % list.length]!;
}

/** Formats an instant (ms) plus extra microseconds in one device's style. */
export function formatTimestamp(ms: number, micros: number, style: TimeStyle): string {
  const iso = new Date(ms).toISOString(); // 2026-11-28T10:00:00.123Z
  const base = iso.slice(0, 19);
  if (style === "zulu-milli") return iso;
  const us = (ms % 1000) * 1000 + micros;
  // Python's isoformat() leaves the fraction out when it is zero.
  const frac = us === 0 ? "" : `.${String(us).padStart(6, "0")}`;
  return `${base}${frac}${style === "offset-micro" ? "+00:00" : ""}`;
}

/** The stream keys a run with these options writes to, in a stable order. */
export function streamKeys(opts: GeneratorOptions): string[] {
  const keys: string[] = [];
  if (opts.shape !== "shared" && !opts.telemetry) {
    for (let d = 1; d <= opts.devices; d++) {
      for (const s of opts.sensors) keys.push(`${opts.prefix}:${deviceName(d)}:${s}`);
    }
  }
  if (opts.shape !== "per-sensor" || opts.telemetry) keys.push(opts.stream);
  return keys;
}

function deviceName(n: number): string {
  return `sim-${String(n).padStart(3, "0")}`;
}

/**
 * Yields messages forever: devices × sensors in turn (alternating shapes
 * round by round for `both`), each series drifting around its usual level.
 * `now` gives the wall-clock time in ms for each message's timestamp.
 */
export function* generateMessages(opts: GeneratorOptions, rng: Rng, now: () => number): Generator<SimMessage> {
  const devices = Array.from({ length: opts.devices }, (_, i) => ({
    name: deviceName(i + 1),
    style: STYLES[i % STYLES.length]!,
    firmware: `1.${Math.floor(rng() * 4)}.${Math.floor(rng() * 10)}`,
    rssi: -55 - Math.floor(rng() * 25),
  }));
  const series = devices.flatMap((device) =>
    opts.sensors.map((sensor) => {
      const p = PROFILES[sensor] ?? GENERIC;
      const spread = (p.max - p.min) / 4;
      return { device, sensor, profile: p, value: p.base + (rng() - 0.5) * spread };
    })
  );
  if (series.length === 0) return;
  for (let i = 0;; i++) {
    const s = series[i % series.length]!;
    const round = Math.floor(i / series.length);
    const shared = opts.telemetry || opts.shape === "shared" || (opts.shape === "both" && round % 2 === 1);
    const p = s.profile;
    // Mean-reverting random walk, kept within the sensor's plausible range.
    s.value += (p.base - s.value) * 0.05 + (rng() - 0.5) * 2 * p.step;
    s.value = Math.min(p.max, Math.max(p.min, s.value));
    s.device.rssi = Math.min(-30, Math.max(-95, s.device.rssi + Math.round((rng() - 0.5) * 4)));

    const ms = now();
    const micros = Math.floor(rng() * 1000);
    const fields: Record<string, string> = {};
    if (shared) {
      fields.device_id = s.device.name;
      fields.metric = s.sensor;
    }
    fields.value = opts.telemetry ? pythonFloat(Number(s.value.toFixed(p.decimals))) : s.value.toFixed(p.decimals);
    // The upstream ingestion service writes Python's utcnow().isoformat().
    fields.timestamp = formatTimestamp(ms, micros, shared ? "naive-micro" : s.device.style);
    if (!opts.telemetry) {
      if (shared && p.unit !== undefined) fields.unit = p.unit;
      fields.metadata = JSON.stringify({ firmware: s.device.firmware, rssi: s.device.rssi });
    }

    let defect: Defect | undefined;
    if (opts.badRatio > 0 && rng() < opts.badRatio) {
      defect = pick(rng, opts.telemetry ? TELEMETRY_DEFECTS : DEFECTS);
      if (defect === "value") fields.value = pick(rng, BAD_VALUES);
      else if (defect === "timestamp") fields.timestamp = pick(rng, BAD_TIMESTAMPS);
      else if (defect === "missing-timestamp") delete fields.timestamp;
      // The single stream's messages need their device; a per-sensor message needs its value.
      else if (defect === "missing-field") delete fields[shared ? "device_id" : "value"];
      else fields.metadata = pick(rng, BAD_METADATA);
    }
    const stream = shared ? opts.stream : `${opts.prefix}:${s.device.name}:${s.sensor}`;
    yield defect ? { stream, fields, defect } : { stream, fields };
  }
}

/** A small seedable generator (mulberry32); `seed` is taken modulo 2^32. */
export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
