/**
 * Stream entry → typed {@link Reading}, or a rejection with a reason a person
 * can act on and its class. Pure: no I/O, no clock.
 */
import type { Decoded, Reading, ReasonClass, StreamEntry } from "../ports.ts";
import {
  type DecodeLimits,
  DEFAULT_LIMITS,
  jsonTextProblem,
  messageOverLimits,
  metadataOverSize,
  oneLine,
  quoted,
  REPLACEMENT_CHAR,
} from "./limits.ts";
import { isNaiveInstant, parseInstant } from "./instant.ts";
import { parseStreamKey } from "./stream_key.ts";
import { Memo } from "../memo.ts";

/** Longest device id and sensor type the table accepts (VARCHAR(100)). */
export const MAX_NAME_LENGTH = 100;

const DECIMAL_RE = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const KEY_SHAPE = `expected a field or a stream key like mqtt_stream:<device_id>:<sensor_type>`;

/** A rejection of one entry, returned (never thrown) by the checks below. */
class Reject {
  constructor(readonly reason: string, readonly kind: ReasonClass) {}
}

function rejected(r: Reject): Decoded {
  return { ok: false, reason: r.reason, class: r.kind };
}

/** The first of the fields `a`, `b` that is present and not blank (two names, no array: this runs per entry). */
function field(fields: Readonly<Record<string, string>>, a: string, b?: string): string | undefined {
  const v = fields[a];
  if (v !== undefined && v.trim() !== "") return v;
  if (b === undefined) return undefined;
  const w = fields[b];
  return w !== undefined && w.trim() !== "" ? w : undefined;
}

function checkName(label: string, raw: string | undefined, missing: string): string | Reject {
  // Surrounding white space is dropped, as from values and timestamps.
  const value = raw?.trim();
  if (value === undefined || value === "") return new Reject(missing, "missing_field");
  // Counted in code points, as PostgreSQL counts characters; a string no
  // longer than the limit in UTF-16 units cannot be longer in code points.
  const length = value.length <= MAX_NAME_LENGTH ? value.length : [...value].length;
  if (length > MAX_NAME_LENGTH) {
    return new Reject(
      `${label} is ${length} characters long; at most ${MAX_NAME_LENGTH} are allowed`,
      "bad_identifier",
    );
  }
  if (value.includes("\u0000")) {
    return new Reject(`${label} contains a NUL character, which PostgreSQL cannot store`, "bad_identifier");
  }
  if (value.includes(REPLACEMENT_CHAR)) return notUtf8(label);
  return value;
}

function notUtf8(label: string): Reject {
  return new Reject(
    `${label} contains U+FFFD: the message held bytes that are not valid UTF-8 (or that replacement character itself)`,
    "bad_encoding",
  );
}

/** What a stream key gives a reading that names no device or sensor type itself: checked, or why not. */
interface KeyNames {
  readonly sensor: string | Reject;
  readonly device: string | Reject;
}

function keyNames(stream: string): KeyNames {
  const fromKey = parseStreamKey(stream);
  return {
    // The sensor type first: a key like `mqtt_stream:esp32` names no sensor type,
    // and saying so is the most useful reason.
    sensor: checkName(
      "sensor_type",
      fromKey.sensorType,
      `sensor_type missing: no "sensor_type" or "metric" field and stream key ${
        JSON.stringify(stream)
      } has no sensor type (${KEY_SHAPE})`,
    ),
    device: checkName(
      "device_id",
      fromKey.deviceId,
      `device_id missing: no "device_id" field and stream key ${
        JSON.stringify(stream)
      } has no device segment (${KEY_SHAPE})`,
    ),
  };
}

/** Per-stream key names, worked out once per key: pass one to {@link decode} for every entry of a run. */
export function keyNamesCache(): Memo<KeyNames> {
  return new Memo(keyNames);
}

/**
 * Decodes one stream entry, trusting message fields over what the key says.
 * Never throws: an entry that breaks the decoder is rejected with the error.
 * `keys` remembers what each stream key gives (one per run, not per entry).
 */
export function decode(
  entry: StreamEntry,
  limits: DecodeLimits = DEFAULT_LIMITS,
  keys: Memo<KeyNames> = keyNamesCache(),
): Decoded {
  try {
    return decodeWithin(entry, limits, keys);
  } catch (err) {
    return {
      ok: false,
      reason: `message could not be decoded: ${oneLine(String((err as Error)?.message ?? err))}`,
      class: "other",
    };
  }
}

function decodeWithin(entry: StreamEntry, limits: DecodeLimits, keys: Memo<KeyNames>): Decoded {
  const f = entry.fields;
  const over = messageOverLimits(f, limits);
  if (over !== undefined) return { ok: false, reason: over, class: "too_large" };
  if (entry.stream.includes("\u0000")) {
    return {
      ok: false,
      reason: `stream key contains a NUL character, which PostgreSQL cannot store`,
      class: "bad_encoding",
    };
  }
  const sensorField = field(f, "sensor_type", "metric");
  const deviceField = field(f, "device_id");
  const fromKey = sensorField === undefined || deviceField === undefined ? keys.get(entry.stream) : undefined;
  // The sensor type first: a key like `mqtt_stream:esp32` names no sensor type,
  // and saying so is the most useful reason.
  const sensor = sensorField === undefined ? fromKey!.sensor : checkName("sensor_type", sensorField, "");
  if (sensor instanceof Reject) return rejected(sensor);
  const device = deviceField === undefined ? fromKey!.device : checkName("device_id", deviceField, "");
  if (device instanceof Reject) return rejected(device);
  const value = decodeValue(f.value);
  if (value instanceof Reject) return rejected(value);
  const rawTime = field(f, "timestamp", "time");
  const time = decodeTime(rawTime);
  if (time instanceof Reject) return rejected(time);
  let metadata = decodeMetadata(f.metadata, limits);
  if (metadata instanceof Reject) return rejected(metadata);
  let metadataText = metadata === null || !keepsItsText(f.metadata!) ? undefined : f.metadata;
  const unit = field(f, "unit");
  if (unit !== undefined) {
    if (unit.includes("\u0000")) {
      return rejected(new Reject(`unit contains a NUL character, which PostgreSQL cannot store`, "bad_encoding"));
    }
    if (unit.includes(REPLACEMENT_CHAR)) return rejected(notUtf8("unit"));
    metadata = { ...(metadata ?? {}), unit };
    metadataText = undefined;
  }
  const reading: { -readonly [K in keyof Reading]: Reading[K] } = {
    time,
    deviceId: device,
    sensorType: sensor,
    value,
    metadata,
    sourceStream: entry.stream,
    sourceId: entry.id,
  };
  if (metadataText !== undefined) reading.metadataText = metadataText;
  if (isNaiveInstant(rawTime!)) reading.naiveTime = true;
  return { ok: true, reading };
}

function decodeValue(raw: string | undefined): number | Reject {
  const trimmed = raw?.trim();
  if (raw === undefined || trimmed === "") {
    return new Reject(`value missing: expected a "value" field with a decimal number`, "missing_field");
  }
  const value = Number(trimmed);
  if (!Number.isFinite(value) || !DECIMAL_RE.test(trimmed!)) {
    return new Reject(
      `value ${quoted(raw)} is not a finite decimal number (expected e.g. 23.5 or -1.2e3)`,
      "bad_value",
    );
  }
  return value;
}

function decodeTime(raw: string | undefined): string | Reject {
  if (raw === undefined) {
    return new Reject(
      `timestamp missing: expected a "timestamp" (or "time") field with an ISO 8601 date-time`,
      "missing_field",
    );
  }
  return parseInstant(raw) ?? new Reject(
    `timestamp ${
      quoted(raw)
    } is not a valid ISO 8601 date-time (expected e.g. 2026-11-28T10:00:00.123456 or 2026-11-28T10:00:00+01:00)`,
    "bad_timestamp",
  );
}

/** Longest metadata text stored as written (see {@link keepsItsText}). */
const MAX_KEPT_TEXT = 8192;
/** An exponent of three digits or more (anywhere: strings too, which only means the text is not kept). */
const BIG_EXPONENT_RE = /[eE][+-]?\d{3}/;

/**
 * Whether valid metadata text is stored as the message wrote it, so that its
 * numbers keep every digit (JSONB stores them as NUMERIC). Only when PostgreSQL
 * is sure to accept every number in it: no exponent of three digits (1e400)
 * and at most 8 KiB, far inside NUMERIC's range. Otherwise the object as read
 * is stored (numbers as doubles: 1e400 becomes null).
 */
function keepsItsText(raw: string): boolean {
  return raw.length <= MAX_KEPT_TEXT && !BIG_EXPONENT_RE.test(raw);
}

function decodeMetadata(raw: string | undefined, limits: DecodeLimits): Record<string, unknown> | null | Reject {
  if (raw === undefined || raw.trim() === "") return null;
  const tooBig = metadataOverSize(raw, limits);
  if (tooBig !== undefined) return new Reject(tooBig, "too_large");
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    return new Reject(
      `metadata is not valid JSON (${oneLine((err as Error).message)}); expected a JSON object`,
      "invalid_json",
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    const kind = parsed === null ? "null" : Array.isArray(parsed) ? "an array" : `a ${typeof parsed}`;
    return new Reject(`metadata is ${kind}; expected a JSON object`, "bad_metadata");
  }
  const problem = jsonTextProblem(raw, limits.maxMetadataDepth);
  if (problem !== undefined) return new Reject(problem, "bad_metadata");
  if (raw.includes(REPLACEMENT_CHAR)) return notUtf8("metadata");
  return parsed as Record<string, unknown>;
}
