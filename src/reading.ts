/**
 * Stream entry → typed {@link Reading}, or a rejection with a reason a person
 * can act on. Pure: no I/O, no clock.
 */

/** One entry of a Redis stream, fields already decoded to strings. */
export interface StreamEntry {
  readonly stream: string;
  readonly id: string;
  readonly fields: Readonly<Record<string, string>>;
}

/** One string naming a stream entry (`stream` and `id` joined by NUL, which neither contains). */
export function entryKey(entry: { readonly stream: string; readonly id: string }): string {
  return `${entry.stream}\u0000${entry.id}`;
}

/** A validated sensor reading, ready for the table. */
export interface Reading {
  /** The instant as an ISO 8601 string with an explicit offset, microseconds kept. */
  readonly time: string;
  readonly deviceId: string;
  readonly sensorType: string;
  readonly value: number;
  readonly metadata: Readonly<Record<string, unknown>> | null;
  readonly sourceStream: string;
  readonly sourceId: string;
}

/** The outcome of decoding one entry. */
export type Decoded =
  | { readonly ok: true; readonly reading: Reading }
  | { readonly ok: false; readonly reason: string };

/** Longest device id and sensor type the table accepts (VARCHAR(100)). */
export const MAX_NAME_LENGTH = 100;

const INSTANT_RE =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$/;
const DECIMAL_RE = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * Parses an ISO 8601 date-time into a canonical string PostgreSQL reads
 * exactly (`YYYY-MM-DDTHH:MM:SS[.ffffff]±HH:MM`). No offset means UTC.
 * Returns `undefined` for anything that is not a real instant.
 */
export function parseInstant(input: string): string | undefined {
  const m = INSTANT_RE.exec(input.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s = "00", frac, z, sign, oh, om = "00"] = m;
  const year = Number(y), month = Number(mo), day = Number(d);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) return undefined;
  let offset = "+00:00";
  if (!z && sign) {
    if (Number(oh) > 15 || Number(om) > 59) return undefined;
    offset = `${sign}${oh}:${om}`;
  }
  return `${y}-${mo}-${d}T${h}:${mi}:${s}${frac ? `.${frac}` : ""}${offset}`;
}

/** Splits `prefix:device_id:sensor_type` (the sensor type may contain `:`). */
export function parseStreamKey(key: string): { deviceId?: string; sensorType?: string } {
  const first = key.indexOf(":");
  const second = first < 0 ? -1 : key.indexOf(":", first + 1);
  if (second < 0) return {};
  return { deviceId: key.slice(first + 1, second), sensorType: key.slice(second + 1) };
}

function field(fields: Readonly<Record<string, string>>, ...names: string[]): string | undefined {
  for (const n of names) {
    const v = fields[n];
    if (v !== undefined && v.trim() !== "") return v;
  }
  return undefined;
}

function checkName(label: string, value: string | undefined, missing: string): string | Reject {
  if (value === undefined || value === "") return new Reject(missing);
  // Counted in code points, as PostgreSQL counts characters; a string no
  // longer than the limit in UTF-16 units cannot be longer in code points.
  const length = value.length <= MAX_NAME_LENGTH ? value.length : [...value].length;
  if (length > MAX_NAME_LENGTH) {
    return new Reject(`${label} is ${length} characters long; at most ${MAX_NAME_LENGTH} are allowed`);
  }
  if (value.includes("\u0000")) return new Reject(`${label} contains a NUL character, which PostgreSQL cannot store`);
  return value;
}

class Reject {
  constructor(readonly reason: string) {}
}

/** Decodes one stream entry, trusting message fields over what the key says. */
export function decode(entry: StreamEntry): Decoded {
  const f = entry.fields;
  const fromKey = parseStreamKey(entry.stream);
  const keyShape = `expected a field or a stream key like mqtt_stream:<device_id>:<sensor_type>`;

  // The sensor type first: a key like `mqtt_stream:esp32` names no sensor type,
  // and saying so is the most useful reason.
  const sensor = checkName(
    "sensor_type",
    field(f, "sensor_type", "metric") ?? fromKey.sensorType,
    `sensor_type missing: no "sensor_type" or "metric" field and stream key ${
      JSON.stringify(entry.stream)
    } has no sensor type (${keyShape})`,
  );
  if (sensor instanceof Reject) return { ok: false, reason: sensor.reason };

  const device = checkName(
    "device_id",
    field(f, "device_id") ?? fromKey.deviceId,
    `device_id missing: no "device_id" field and stream key ${
      JSON.stringify(entry.stream)
    } has no device segment (${keyShape})`,
  );
  if (device instanceof Reject) return { ok: false, reason: device.reason };

  const rawValue = f.value;
  const trimmedValue = rawValue?.trim();
  if (rawValue === undefined || trimmedValue === "") {
    return { ok: false, reason: `value missing: expected a "value" field with a decimal number` };
  }
  const value = Number(trimmedValue);
  if (!Number.isFinite(value) || !DECIMAL_RE.test(trimmedValue!)) {
    return {
      ok: false,
      reason: `value ${JSON.stringify(rawValue)} is not a finite decimal number (expected e.g. 23.5 or -1.2e3)`,
    };
  }

  const rawTime = field(f, "timestamp", "time");
  if (rawTime === undefined) {
    return {
      ok: false,
      reason: `timestamp missing: expected a "timestamp" (or "time") field with an ISO 8601 date-time`,
    };
  }
  const time = parseInstant(rawTime);
  if (time === undefined) {
    return {
      ok: false,
      reason: `timestamp ${
        JSON.stringify(rawTime)
      } is not a valid ISO 8601 date-time (expected e.g. 2026-11-28T10:00:00.123456 or 2026-11-28T10:00:00+01:00)`,
    };
  }

  let metadata: Record<string, unknown> | null = null;
  const rawMeta = f.metadata;
  if (rawMeta !== undefined && rawMeta.trim() !== "") {
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawMeta);
    } catch (err) {
      return {
        ok: false,
        reason: `metadata is not valid JSON (${(err as Error).message}); expected a JSON object`,
      };
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      const kind = parsed === null ? "null" : Array.isArray(parsed) ? "an array" : `a ${typeof parsed}`;
      return { ok: false, reason: `metadata is ${kind}; expected a JSON object` };
    }
    if (rawMeta.includes("\\u0000")) {
      return { ok: false, reason: `metadata contains \\u0000, which PostgreSQL cannot store in JSONB` };
    }
    metadata = parsed as Record<string, unknown>;
  }
  const unit = field(f, "unit");
  if (unit !== undefined) metadata = { ...(metadata ?? {}), unit };

  return {
    ok: true,
    reading: {
      time,
      deviceId: device,
      sensorType: sensor,
      value,
      metadata,
      sourceStream: entry.stream,
      sourceId: entry.id,
    },
  };
}
