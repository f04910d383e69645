/**
 * Caps on what one stream entry may hold, and the cheap checks that enforce
 * them before anything is parsed or stored. Pure: no I/O.
 */
import { defaultOf } from "../config/setting.ts";
import { LIMITS } from "../config/settings/limits.ts";

/** Caps applied to every entry (MAX_MESSAGE_BYTES, MAX_MESSAGE_FIELDS, MAX_METADATA_BYTES, MAX_METADATA_DEPTH). */
export interface DecodeLimits {
  /** Most bytes (UTF-8) of all field names and values together. */
  readonly maxMessageBytes: number;
  /** Most fields in one entry. */
  readonly maxMessageFields: number;
  /** Most bytes (UTF-8) of the `metadata` field. */
  readonly maxMetadataBytes: number;
  /** Deepest nesting of objects and arrays in `metadata`; the object itself is depth 1. */
  readonly maxMetadataDepth: number;
}

/** The defaults of the four settings, from the settings table (src/config/settings/limits.ts). */
export const DEFAULT_LIMITS: DecodeLimits = Object.freeze({
  maxMessageBytes: defaultOf(LIMITS.maxMessageBytes),
  maxMessageFields: defaultOf(LIMITS.maxMessageFields),
  maxMetadataBytes: defaultOf(LIMITS.maxMetadataBytes),
  maxMetadataDepth: defaultOf(LIMITS.maxMetadataDepth),
});

/**
 * UTF-8 length of `s`, or of `s` with each unpaired surrogate counted as two
 * bytes (they never come from Redis, which decodes bytes, not escapes).
 */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) n += c < 0x800 || (c >= 0xd800 && c < 0xe000) ? 1 : 2;
  }
  return n;
}

/**
 * Why an entry's fields exceed the caps, or `undefined`. Cheap: the exact
 * byte count is taken only when the UTF-16 length alone cannot decide
 * (a code unit is 1 to 3 bytes in UTF-8).
 */
export function messageOverLimits(fields: Readonly<Record<string, string>>, limits: DecodeLimits): string | undefined {
  let count = 0, units = 0;
  for (const k in fields) {
    count++;
    units += k.length + fields[k]!.length;
  }
  if (count > limits.maxMessageFields) {
    return `message has ${count} fields; at most ${limits.maxMessageFields} are allowed (MAX_MESSAGE_FIELDS)`;
  }
  if (units * 3 <= limits.maxMessageBytes) return undefined;
  let bytes = units;
  if (units <= limits.maxMessageBytes) {
    bytes = 0;
    for (const k in fields) bytes += utf8Length(k) + utf8Length(fields[k]!);
    if (bytes <= limits.maxMessageBytes) return undefined;
  }
  const atLeast = bytes === units && units > limits.maxMessageBytes ? "at least " : "";
  return `message is ${atLeast}${bytes} bytes (field names and values); at most ${limits.maxMessageBytes} are allowed (MAX_MESSAGE_BYTES)`;
}

/** Why a `metadata` text is too big, or `undefined`. */
export function metadataOverSize(raw: string, limits: DecodeLimits): string | undefined {
  if (raw.length * 3 <= limits.maxMetadataBytes) return undefined;
  const bytes = raw.length > limits.maxMetadataBytes ? raw.length : utf8Length(raw);
  if (bytes <= limits.maxMetadataBytes) return undefined;
  const atLeast = bytes === raw.length && raw.length > limits.maxMetadataBytes ? "at least " : "";
  return `metadata is ${atLeast}${bytes} bytes; at most ${limits.maxMetadataBytes} are allowed (MAX_METADATA_BYTES)`;
}

const QUOTE = 34, BACKSLASH = 92, U = 117, OPEN_OBJ = 123, OPEN_ARR = 91, CLOSE_OBJ = 125, CLOSE_ARR = 93;

/**
 * Checks what JSON.parse accepts but PostgreSQL's JSONB does not, or the caps
 * forbid, in one pass over valid JSON text: nesting deeper than `maxDepth`,
 * the escape `\u0000`, and unpaired surrogate escapes. Returns the reason, or
 * `undefined`. Only meaningful for text that JSON.parse accepted.
 */
export function jsonTextProblem(raw: string, maxDepth: number): string | undefined {
  // Fast path (nearly every message): no escapes, and too few brackets to nest too deep.
  if (raw.indexOf("\\") < 0 && fewerBrackets(raw, maxDepth)) return undefined;
  let depth = 0, inString = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (inString) {
      if (c === QUOTE) inString = false;
      else if (c === BACKSLASH) {
        if (raw.charCodeAt(i + 1) !== U) {
          i++;
          continue;
        }
        const unit = parseInt(raw.slice(i + 2, i + 6), 16);
        if (unit === 0) return `metadata contains \\u0000, which PostgreSQL cannot store in JSONB`;
        if (unit >= 0xd800 && unit < 0xdc00) {
          const next = raw.charCodeAt(i + 6) === BACKSLASH && raw.charCodeAt(i + 7) === U
            ? parseInt(raw.slice(i + 8, i + 12), 16)
            : -1;
          if (next < 0xdc00 || next >= 0xe000) return unpaired(raw.slice(i, i + 6));
          i += 11;
        } else if (unit >= 0xdc00 && unit < 0xe000) {
          return unpaired(raw.slice(i, i + 6));
        } else {
          i += 5;
        }
      }
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_OBJ || c === OPEN_ARR) {
      if (++depth > maxDepth) {
        return `metadata nests objects and arrays deeper than ${maxDepth} levels (MAX_METADATA_DEPTH)`;
      }
    } else if (c === CLOSE_OBJ || c === CLOSE_ARR) {
      depth--;
    }
  }
  return undefined;
}

/** True when `raw` has at most `max` opening brackets (`{` and `[` together). */
function fewerBrackets(raw: string, max: number): boolean {
  let n = 0;
  for (let i = raw.indexOf("{"); i >= 0; i = raw.indexOf("{", i + 1)) if (++n > max) return false;
  for (let i = raw.indexOf("["); i >= 0; i = raw.indexOf("[", i + 1)) if (++n > max) return false;
  return true;
}

function unpaired(escape: string): string {
  return `metadata contains the unpaired surrogate escape ${escape}, which PostgreSQL cannot store in JSONB`;
}

/** The replacement character: what bytes that are not valid UTF-8 become when Redis replies are decoded. */
export const REPLACEMENT_CHAR = "\uFFFD";

/** `s` quoted for a reason, cut to its first 64 characters when longer. */
export function quoted(s: string): string {
  return s.length <= 64 ? JSON.stringify(s) : `${JSON.stringify(s.slice(0, 64))}… (${s.length} characters)`;
}

/** `s` on one line: control characters (line breaks, NUL, …) written as `\uXXXX` escapes. */
export function oneLine(s: string): string {
  // deno-lint-ignore no-control-regex
  return s.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
