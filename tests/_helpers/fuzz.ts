/**
 * Hostile stream entries for the fuzz tests: a seeded generator of field maps
 * with random bytes, invalid UTF-8, huge and odd numbers, deep and broken
 * JSON, NUL bytes, unpaired surrogates, prototype-named fields, thousands of
 * fields and oversized values, mixed with good messages. Deterministic for a
 * seed (tests take it from _helpers/random.ts testSeed: TEST_SEED replays a run).
 */
import { seededRng } from "../../src/cli/simulate/messages.ts";

/** A field name or value as raw bytes or as text (sent as UTF-8). */
export type Raw = string | Uint8Array;

/** One generated message. */
export interface FuzzMessage {
  /** Field names and values in order, as sent to Redis. */
  readonly fields: readonly (readonly [Raw, Raw])[];
  /** True when the message is a well-formed reading that must become a row. */
  readonly good: boolean;
  /** What the generator did, for failure messages. */
  readonly kind: string;
}

/** Decodes raw bytes the way the Redis client does (invalid UTF-8 becomes U+FFFD). */
export function asRedisText(raw: Raw): string {
  return typeof raw === "string"
    ? new TextDecoder().decode(new TextEncoder().encode(raw))
    : new TextDecoder().decode(raw);
}

const GOOD_VALUES = ["23.5", "-4", "0", "1.2e3", "-0.001", "1e308", "+.5", "7."];
const BAD_VALUES = [
  "abc",
  "NaN",
  "Infinity",
  "-Infinity",
  "1e400",
  "-1e400",
  "0x1F",
  "1_000",
  "1,5",
  ".",
  "--1",
  "1e",
  "\u0000",
  "12\u00003",
  "9".repeat(400),
  "٣",
];
/** Odd but valid numbers: every one must be stored. */
const ODD_VALUES = [
  "-0",
  "12345678901234567890",
  "-99999999999999999999999",
  "1e-400",
  "5e-324",
  "2.2250738585072014e-308",
  "1.7976931348623157e308",
  " 42 ",
  "0." + "0".repeat(500) + "1",
  "0".repeat(300) + "1",
];
const GOOD_TIMES = [
  "2026-11-28T10:00:00Z",
  "2026-11-28T10:00:00.123456",
  "2026-11-28 10:00",
  "2026-11-28T10:00:00.123456789+01:00",
  "0001-01-01T00:00:00Z",
  "9999-12-31T23:59:59.999999-15:59",
  "2024-02-29T12:00:00-0500",
];
const BAD_TIMES = [
  "",
  "now",
  "1732788000",
  "2026-02-30T10:00:00Z",
  "2026-11-28T24:00:00Z",
  "2026-11-28T10:00:60Z",
  "2026-11-28T10:00:00+16:00",
  "0000-01-01T00:00:00Z",
  "2026-11-28T10:00:00\u0000",
  "2026-11-28T10:00:00.1234567890Z",
  "＂2026-11-28T10:00:00Z",
  "2026-11-28T10:00:00Z".repeat(1000),
];

function pick<T>(r: () => number, list: readonly T[]): T {
  return list[Math.floor(r() * list.length)]!;
}

function int(r: () => number, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

function randomBytes(r: () => number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(r() * 256);
  return out;
}

/** Valid UTF-8 bytes followed by one sequence that is not. */
function invalidUtf8(r: () => number, text: string): Uint8Array {
  const head = new TextEncoder().encode(text);
  const tail = pick(r, [[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xe2, 0x28, 0xa1], [0x80], [
    0xf8,
    0x88,
    0x80,
    0x80,
    0x80,
  ]]);
  const at = int(r, 0, head.length);
  return new Uint8Array([...head.slice(0, at), ...tail, ...head.slice(at)]);
}

function nested(depth: number, leaf: string): string {
  return `${'{"a":'.repeat(depth - 1)}{"leaf":${leaf}}${"}".repeat(depth - 1)}`;
}

function badMetadata(r: () => number): Raw {
  switch (int(r, 0, 15)) {
    case 0:
      return nested(int(r, 40, 20_000), "1");
    case 1:
      return `[${"[".repeat(int(r, 40, 5000))}${"]".repeat(0)}`;
    case 2:
      return '{"a":"x\\u0000y"}';
    case 3:
      return '{"a":"\u0000"}';
    case 4:
      return '{"a":"\\ud800"}';
    case 5:
      return '{"a":"\\udc00\\ud800"}';
    case 6:
      return "{room: lab}";
    case 7:
      return '["a",1]';
    case 8:
      return "null";
    case 9:
      return "42";
    case 10:
      return JSON.stringify({ blob: "x".repeat(int(r, 17_000, 70_000)) });
    case 11:
      return randomBytes(r, int(r, 1, 200));
    case 12:
      return invalidUtf8(r, '{"room":"lab"}');
    case 13:
      return '{"\\u0000key":1}';
    case 14:
      return '{"a":"\uFFFD"}';
    default:
      return `{"a":1}${"x".repeat(int(r, 1, 10))}`;
  }
}

function oddMetadata(r: () => number): string {
  return pick(r, [
    '{"big":1e400,"int":12345678901234567890,"neg":-0}',
    '{"__proto__":{"polluted":true},"constructor":"c"}',
    '{"pair":"\\ud83d\\ude00","esc":"\\\\u0000 is text"}',
    nested(32, '"deep but allowed"'),
    '{"ctl":"\\u0001\\u001f","quote":"\\"","uni":"\\u00e9"}',
    '{"unicode":"温度","emoji":"🌡️"}',
    "{}",
    '  {"spaces" : [ 1 , 2 ] }  ',
  ]);
}

function goodBase(r: () => number, i: number): [Raw, Raw][] {
  const f: [Raw, Raw][] = [["value", pick(r, GOOD_VALUES)], [r() < 0.5 ? "timestamp" : "time", pick(r, GOOD_TIMES)]];
  if (r() < 0.5) f.push(["device_id", `dev-${i % 50}`]);
  if (r() < 0.3) f.push([r() < 0.5 ? "sensor_type" : "metric", pick(r, ["temperature", "humidity", "env:co2"])]);
  if (r() < 0.4) f.push(["metadata", JSON.stringify({ seq: i, room: pick(r, ["lab", "hall", "Küche"]) })]);
  if (r() < 0.2) f.push(["unit", pick(r, ["C", "%", "µg/m³"])]);
  return f;
}

function set(f: [Raw, Raw][], name: string, value: Raw): void {
  const i = f.findIndex(([k]) => k === name);
  if (i >= 0) f[i] = [name, value];
  else f.push([name, value]);
}

/** Generates `count` messages from `seed`; about a third are good. */
export function generateMessages(seed: number, count: number): FuzzMessage[] {
  const r = seededRng(seed);
  const out: FuzzMessage[] = [];
  for (let i = 0; i < count; i++) {
    const f = goodBase(r, i);
    const roll = int(r, 0, 19);
    let good = false, kind: string;
    switch (roll) {
      case 0:
      case 1:
      case 2:
      case 3:
      case 4:
        good = true;
        kind = "good";
        break;
      case 5:
        good = true;
        kind = "odd value";
        set(f, "value", pick(r, ODD_VALUES));
        break;
      case 6:
        good = true;
        kind = "odd metadata";
        set(f, "metadata", oddMetadata(r));
        break;
      case 7:
        kind = "bad value";
        set(f, "value", pick(r, BAD_VALUES));
        break;
      case 8:
        kind = "bad time";
        // Without "time": an empty "timestamp" would fall back to it.
        f.splice(0, f.length, ...f.filter(([k]) => k !== "time"));
        set(f, "timestamp", pick(r, BAD_TIMES));
        break;
      case 9:
      case 10:
        kind = "bad metadata";
        set(f, "metadata", badMetadata(r));
        break;
      case 11:
        kind = "bad device_id";
        set(f, "device_id", pick(r, ["dev\u0000x", "d".repeat(101), "🌡".repeat(101)]));
        if (r() < 0.5) set(f, "device_id", invalidUtf8(r, "esp32"));
        break;
      case 12:
        kind = "bad unit";
        set(f, "unit", r() < 0.5 ? "°\u0000C" : invalidUtf8(r, "%"));
        break;
      case 13: {
        kind = "many fields";
        const n = int(r, 1001, 5000);
        for (let j = 0; j < n; j++) f.push([`x${j}`, r() < 0.1 ? randomBytes(r, 3) : String(j)]);
        break;
      }
      case 14:
        kind = "huge field";
        f.push(["blob", "z".repeat(int(r, 66_000, 100_000))]);
        break;
      case 15:
        good = true;
        kind = "odd field names";
        f.push(["__proto__", "p"], ["constructor", "c"], ["toString", "t"], ["error", "mine"], ["", "empty name"]);
        f.push([randomBytes(r, 4), randomBytes(r, 8)]);
        break;
      case 16:
        kind = "random bytes value";
        set(f, "value", randomBytes(r, int(r, 1, 64)));
        break;
      default: {
        kind = "random fields";
        f.length = 0;
        const n = int(r, 1, 8); // Redis refuses an entry without fields
        for (let j = 0; j < n; j++) {
          const name = r() < 0.6 ? pick(r, ["value", "timestamp", "device_id", "metric", "metadata", "unit"]) : `k${j}`;
          f.push([name, r() < 0.5 ? randomBytes(r, int(r, 0, 40)) : pick(r, [...BAD_VALUES, ...GOOD_TIMES])]);
        }
      }
    }
    out.push({ fields: f, good, kind });
  }
  return out;
}

/** The fields as the Redis client hands them to the service: one object, later names winning. */
export function asEntryFields(m: FuzzMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of m.fields) {
    Object.defineProperty(out, asRedisText(k), {
      value: asRedisText(v),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}
