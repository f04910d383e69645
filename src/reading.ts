/**
 * Stream entry → typed {@link Reading}, or a rejection with a reason a person
 * can act on. Pure: no I/O, no clock.
 */
import {
  type DecodeLimits,
  DEFAULT_LIMITS,
  jsonTextProblem,
  messageOverLimits,
  metadataOverSize,
  oneLine,
  quoted,
  REPLACEMENT_CHAR,
} from "./input_limits.ts";

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
  const fast = parseCommonInstant(input);
  if (fast !== null) return fast;
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

/** The two-digit number at `i`, or -1 when those are not two digits. */
function twoDigits(s: string, i: number): number {
  const a = s.charCodeAt(i) - 48, b = s.charCodeAt(i + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/**
 * The shapes nearly every producer writes (`YYYY-MM-DDTHH:MM:SS`, optional
 * `.fraction`, optional `Z` or `±HH:MM`) without a regex or substrings: their
 * canonical form is the input itself with the offset made explicit.
 * Returns `null` for any other shape (then the general parser decides) and
 * `undefined` for a date or time out of range.
 */
function parseCommonInstant(s: string): string | undefined | null {
  const n = s.length;
  if (
    n < 19 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 84 ||
    s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58
  ) return null;
  const century = twoDigits(s, 0), yy = twoDigits(s, 2), month = twoDigits(s, 5), day = twoDigits(s, 8);
  const hour = twoDigits(s, 11), minute = twoDigits(s, 14), second = twoDigits(s, 17);
  if ((century | yy | month | day | hour | minute | second) < 0) return null;
  let i = 19;
  if (i < n && s.charCodeAt(i) === 46) {
    let digits = 0;
    while (++i < n && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) digits++;
    if (digits < 1 || digits > 9) return null;
  }
  let withOffset: string;
  if (i === n) withOffset = `${s}+00:00`;
  else if (i === n - 1 && s.charCodeAt(i) === 90) withOffset = `${s.slice(0, i)}+00:00`;
  else if (i === n - 6 && (s.charCodeAt(i) === 43 || s.charCodeAt(i) === 45) && s.charCodeAt(i + 3) === 58) {
    const oh = twoDigits(s, i + 1), om = twoDigits(s, i + 4);
    if (oh < 0 || om < 0) return null;
    if (oh > 15 || om > 59) return undefined;
    withOffset = s;
  } else return null;
  const year = century * 100 + yy;
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  return withOffset;
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
  const bad = unstorable(label, value);
  return bad === undefined ? value : new Reject(bad);
}

/** Why PostgreSQL could not store `value` as text as it was sent (a NUL, or bytes that were not UTF-8), if so. */
function unstorable(label: string, value: string): string | undefined {
  if (value.includes("\u0000")) return `${label} contains a NUL character, which PostgreSQL cannot store`;
  if (value.includes(REPLACEMENT_CHAR)) return notUtf8(label);
  return undefined;
}

function notUtf8(label: string): string {
  return `${label} contains U+FFFD: the message held bytes that are not valid UTF-8 (or that replacement character itself)`;
}

class Reject {
  constructor(readonly reason: string) {}
}

/**
 * Decodes one stream entry, trusting message fields over what the key says.
 * Never throws: an entry that breaks the decoder is rejected with the error.
 */
export function decode(entry: StreamEntry, limits: DecodeLimits = DEFAULT_LIMITS): Decoded {
  try {
    return decodeWithin(entry, limits);
  } catch (err) {
    return { ok: false, reason: `message could not be decoded: ${oneLine(String((err as Error)?.message ?? err))}` };
  }
}

function decodeWithin(entry: StreamEntry, limits: DecodeLimits): Decoded {
  const f = entry.fields;
  const over = messageOverLimits(f, limits);
  if (over !== undefined) return { ok: false, reason: over };
  if (entry.stream.includes("\u0000")) {
    return { ok: false, reason: `stream key contains a NUL character, which PostgreSQL cannot store` };
  }
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
      reason: `value ${quoted(rawValue)} is not a finite decimal number (expected e.g. 23.5 or -1.2e3)`,
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
        quoted(rawTime)
      } is not a valid ISO 8601 date-time (expected e.g. 2026-11-28T10:00:00.123456 or 2026-11-28T10:00:00+01:00)`,
    };
  }

  let metadata: Record<string, unknown> | null = null;
  const rawMeta = f.metadata;
  if (rawMeta !== undefined && rawMeta.trim() !== "") {
    const tooBig = metadataOverSize(rawMeta, limits);
    if (tooBig !== undefined) return { ok: false, reason: tooBig };
    let parsed: unknown;
    try {
      parsed = JSON.parse(rawMeta);
    } catch (err) {
      return {
        ok: false,
        reason: `metadata is not valid JSON (${oneLine((err as Error).message)}); expected a JSON object`,
      };
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      const kind = parsed === null ? "null" : Array.isArray(parsed) ? "an array" : `a ${typeof parsed}`;
      return { ok: false, reason: `metadata is ${kind}; expected a JSON object` };
    }
    const problem = jsonTextProblem(rawMeta, limits.maxMetadataDepth);
    if (problem !== undefined) return { ok: false, reason: problem };
    if (rawMeta.includes(REPLACEMENT_CHAR)) return { ok: false, reason: notUtf8("metadata") };
    metadata = parsed as Record<string, unknown>;
  }
  const unit = field(f, "unit");
  const badUnit = unit === undefined ? undefined : unstorable("unit", unit);
  if (badUnit !== undefined) return { ok: false, reason: badUnit };
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
