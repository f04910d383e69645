/**
 * Pure tests of stream entry decoding: both message shapes of the contract,
 * every rejection, and the timestamp parser.
 */
import assert from "node:assert/strict";
import { decode, keyNamesCache, MAX_NAME_LENGTH } from "../../src/decode/decode.ts";
import { DEFAULT_LIMITS } from "../../src/decode/limits.ts";
import { Memo } from "../../src/memo.ts";
import { asEntryFields, generateMessages } from "../_helpers/fuzz.ts";
import type { Decoded, Reading } from "../../src/ports.ts";
import { parseInstant } from "../../src/decode/instant.ts";
import { parseStreamKey } from "../../src/decode/stream_key.ts";

const TS = "2026-11-28T10:00:00.123456";
const TS_CANON = "2026-11-28T10:00:00.123456+00:00";

function entry(stream: string, fields: Record<string, string>, id = "1732788000000-0") {
  return { stream, id, fields };
}

function expectReading(d: Decoded): Reading {
  if (!d.ok) assert.fail(`expected a reading, got rejection: ${d.reason}`);
  return d.reading;
}

function expectReason(d: Decoded): string {
  if (d.ok) assert.fail(`expected a rejection, got reading: ${JSON.stringify(d.reading)}`);
  return d.reason;
}

Deno.test("decode accepts good entries of both shapes", async (t) => {
  const good: { name: string; stream: string; fields: Record<string, string>; want: Omit<Reading, "sourceId"> }[] = [
    {
      name: "per-sensor stream, minimal",
      stream: "mqtt_stream:esp32-01:temperature",
      fields: { value: "23.5", timestamp: TS },
      want: {
        time: TS_CANON,
        deviceId: "esp32-01",
        sensorType: "temperature",
        value: 23.5,
        metadata: null,
        sourceStream: "mqtt_stream:esp32-01:temperature",
        naiveTime: true,
      },
    },
    {
      name: "per-sensor stream, sensor type containing ':'",
      stream: "mqtt_stream:dev1:env:humidity:rel",
      fields: { value: "-1.2e3", timestamp: "2026-11-28T10:00:00+01:00" },
      want: {
        time: "2026-11-28T10:00:00+01:00",
        deviceId: "dev1",
        sensorType: "env:humidity:rel",
        value: -1200,
        metadata: null,
        sourceStream: "mqtt_stream:dev1:env:humidity:rel",
      },
    },
    {
      name: "per-sensor stream, 'time' instead of 'timestamp', metadata object",
      stream: "mqtt_stream:d:pressure",
      fields: { value: "1013", time: "2026-11-28T10:00:00Z", metadata: '{"room":"lab","floor":2}' },
      want: {
        time: "2026-11-28T10:00:00+00:00",
        deviceId: "d",
        sensorType: "pressure",
        value: 1013,
        metadata: { room: "lab", floor: 2 },
        metadataText: '{"room":"lab","floor":2}',
        sourceStream: "mqtt_stream:d:pressure",
      },
    },
    {
      name: "'timestamp' wins over 'time'",
      stream: "mqtt_stream:d:s",
      fields: { value: "1", timestamp: "2026-01-01T00:00:00Z", time: "2025-01-01T00:00:00Z" },
      want: {
        time: "2026-01-01T00:00:00+00:00",
        deviceId: "d",
        sensorType: "s",
        value: 1,
        metadata: null,
        sourceStream: "mqtt_stream:d:s",
      },
    },
    {
      name: "blank 'timestamp' falls back to 'time'",
      stream: "mqtt_stream:d:s",
      fields: { value: "1", timestamp: "  ", time: "2025-01-01T00:00:00Z" },
      want: {
        time: "2025-01-01T00:00:00+00:00",
        deviceId: "d",
        sensorType: "s",
        value: 1,
        metadata: null,
        sourceStream: "mqtt_stream:d:s",
      },
    },
    {
      name: "shared stream with metric and unit",
      stream: "mqtt:ingestion",
      fields: {
        device_id: "sensor-7",
        metric: "co2",
        value: "415",
        timestamp: TS,
        unit: "ppm",
      },
      want: {
        time: TS_CANON,
        deviceId: "sensor-7",
        sensorType: "co2",
        value: 415,
        metadata: { unit: "ppm" },
        sourceStream: "mqtt:ingestion",
        naiveTime: true,
      },
    },
    {
      name: "shared stream with sensor_type, metadata and unit merged",
      stream: "mqtt:ingestion",
      fields: {
        device_id: "sensor-7",
        sensor_type: "temperature",
        value: "21.25",
        timestamp: TS,
        metadata: '{"battery":87}',
        unit: "°C",
      },
      want: {
        time: TS_CANON,
        deviceId: "sensor-7",
        sensorType: "temperature",
        value: 21.25,
        metadata: { battery: 87, unit: "°C" },
        sourceStream: "mqtt:ingestion",
        naiveTime: true,
      },
    },
    {
      name: "unit field wins over a unit inside metadata",
      stream: "mqtt:ingestion",
      fields: {
        device_id: "d",
        metric: "m",
        value: "1",
        timestamp: TS,
        metadata: '{"unit":"F","x":1}',
        unit: "C",
      },
      want: {
        time: TS_CANON,
        deviceId: "d",
        sensorType: "m",
        value: 1,
        metadata: { unit: "C", x: 1 },
        sourceStream: "mqtt:ingestion",
        naiveTime: true,
      },
    },
    {
      name: "fields win over the key (device and sensor)",
      stream: "mqtt_stream:key-device:key-sensor",
      fields: { device_id: "field-device", sensor_type: "field-sensor", value: "2", timestamp: TS },
      want: {
        time: TS_CANON,
        deviceId: "field-device",
        sensorType: "field-sensor",
        value: 2,
        metadata: null,
        sourceStream: "mqtt_stream:key-device:key-sensor",
        naiveTime: true,
      },
    },
    {
      name: "metric field wins over the key's sensor type",
      stream: "mqtt_stream:key-device:key-sensor",
      fields: { metric: "field-metric", value: "2", timestamp: TS },
      want: {
        time: TS_CANON,
        deviceId: "key-device",
        sensorType: "field-metric",
        value: 2,
        metadata: null,
        sourceStream: "mqtt_stream:key-device:key-sensor",
        naiveTime: true,
      },
    },
    {
      name: "blank device_id field falls back to the key",
      stream: "mqtt_stream:key-device:s",
      fields: { device_id: "   ", value: "2", timestamp: TS },
      want: {
        time: TS_CANON,
        deviceId: "key-device",
        sensorType: "s",
        value: 2,
        metadata: null,
        sourceStream: "mqtt_stream:key-device:s",
        naiveTime: true,
      },
    },
    {
      name: "device_id and sensor_type with surrounding white space are trimmed, as values and timestamps are",
      stream: "mqtt:ingestion",
      fields: { device_id: "  esp32 \t", metric: " temperature ", value: " 2 ", timestamp: ` ${TS} ` },
      want: {
        time: TS_CANON,
        deviceId: "esp32",
        sensorType: "temperature",
        value: 2,
        metadata: null,
        naiveTime: true,
        sourceStream: "mqtt:ingestion",
      },
    },
    {
      name: "value with surrounding spaces, leading '+', trailing '.', leading '.'",
      stream: "mqtt_stream:d:s",
      fields: { value: "  +7.  ", timestamp: TS },
      want: {
        time: TS_CANON,
        deviceId: "d",
        sensorType: "s",
        value: 7,
        metadata: null,
        sourceStream: "mqtt_stream:d:s",
        naiveTime: true,
      },
    },
    {
      name: "value .5",
      stream: "mqtt_stream:d:s",
      fields: { value: ".5", timestamp: TS },
      want: {
        time: TS_CANON,
        deviceId: "d",
        sensorType: "s",
        value: 0.5,
        metadata: null,
        sourceStream: "mqtt_stream:d:s",
        naiveTime: true,
      },
    },
    {
      name: "value 0 and empty metadata object",
      stream: "mqtt_stream:d:s",
      fields: { value: "0", timestamp: TS, metadata: "{}" },
      want: {
        time: TS_CANON,
        deviceId: "d",
        sensorType: "s",
        value: 0,
        metadata: {},
        metadataText: "{}",
        sourceStream: "mqtt_stream:d:s",
        naiveTime: true,
      },
    },
    {
      name: "blank metadata means none",
      stream: "mqtt_stream:d:s",
      fields: { value: "1e3", timestamp: TS, metadata: "  " },
      want: {
        time: TS_CANON,
        deviceId: "d",
        sensorType: "s",
        value: 1000,
        metadata: null,
        sourceStream: "mqtt_stream:d:s",
        naiveTime: true,
      },
    },
    {
      name: "device and sensor of exactly 100 emoji (code points, not UTF-16 units)",
      stream: "mqtt:ingestion",
      fields: { device_id: "🌡".repeat(100), metric: "😀".repeat(100), value: "1", timestamp: TS },
      want: {
        time: TS_CANON,
        deviceId: "🌡".repeat(100),
        sensorType: "😀".repeat(100),
        value: 1,
        metadata: null,
        sourceStream: "mqtt:ingestion",
        naiveTime: true,
      },
    },
  ];

  for (const c of good) {
    await t.step(c.name, () => {
      const id = "1732788000000-7";
      const reading = expectReading(decode(entry(c.stream, c.fields, id)));
      assert.deepEqual(reading, { ...c.want, sourceId: id });
    });
  }
});

Deno.test("decode rejects bad entries with a reason a person can act on", async (t) => {
  const base = { value: "23.5", timestamp: TS };
  const stream = "mqtt_stream:esp32:temperature";
  const bad: { name: string; stream?: string; fields: Record<string, string>; reason: RegExp }[] = [
    { name: "value abc", fields: { ...base, value: "abc" }, reason: /value "abc" is not a finite decimal number/ },
    { name: "value NaN", fields: { ...base, value: "NaN" }, reason: /value "NaN" is not a finite/ },
    { name: "value Infinity", fields: { ...base, value: "Infinity" }, reason: /value "Infinity" is not a finite/ },
    { name: "value -Infinity", fields: { ...base, value: "-Infinity" }, reason: /value "-Infinity" is not a finite/ },
    { name: "value 1e999 (overflows)", fields: { ...base, value: "1e999" }, reason: /value "1e999" is not a finite/ },
    { name: "value hex 0x10", fields: { ...base, value: "0x10" }, reason: /value "0x10" is not a finite/ },
    { name: "value binary 0b1", fields: { ...base, value: "0b1" }, reason: /value "0b1" is not a finite/ },
    { name: "value with unit", fields: { ...base, value: "23.5C" }, reason: /value "23.5C" is not a finite/ },
    { name: "value with comma decimal", fields: { ...base, value: "23,5" }, reason: /value "23,5" is not a finite/ },
    { name: "value empty", fields: { ...base, value: "" }, reason: /^value missing/ },
    { name: "value blank", fields: { ...base, value: "   " }, reason: /^value missing/ },
    { name: "value missing", fields: { timestamp: TS }, reason: /^value missing/ },
    { name: "timestamp missing", fields: { value: "1" }, reason: /^timestamp missing/ },
    { name: "timestamp blank", fields: { value: "1", timestamp: " " }, reason: /^timestamp missing/ },
    {
      name: "timestamp Feb 30",
      fields: { ...base, timestamp: "2026-02-30T10:00:00" },
      reason: /timestamp "2026-02-30T10:00:00" is not a valid ISO 8601/,
    },
    {
      name: "timestamp date only, Feb 30",
      fields: { ...base, timestamp: "2026-02-30" },
      reason: /timestamp "2026-02-30" is not a valid ISO 8601/,
    },
    {
      name: "timestamp hour 25",
      fields: { ...base, timestamp: "2026-11-28T25:00:00" },
      reason: /timestamp "2026-11-28T25:00:00" is not a valid/,
    },
    {
      name: "timestamp garbage",
      fields: { ...base, timestamp: "yesterday at noon" },
      reason: /timestamp "yesterday at noon" is not a valid/,
    },
    {
      name: "timestamp epoch seconds",
      fields: { ...base, timestamp: "1764324000" },
      reason: /timestamp "1764324000" is not a valid/,
    },
    {
      name: "timestamp epoch milliseconds with fraction",
      fields: { ...base, timestamp: "1764324000123.5" },
      reason: /timestamp "1764324000123.5" is not a valid/,
    },
    {
      name: "bad 'timestamp' is not replaced by a good 'time'",
      fields: { value: "1", timestamp: "garbage", time: "2026-11-28T10:00:00Z" },
      reason: /timestamp "garbage" is not a valid/,
    },
    {
      name: "device id of 101 characters",
      stream: "mqtt:ingestion",
      fields: { ...base, device_id: "d".repeat(101), metric: "m" },
      reason: /^device_id is 101 characters long; at most 100/,
    },
    {
      name: "device id of 101 emoji",
      stream: "mqtt:ingestion",
      fields: { ...base, device_id: "🌡".repeat(101), metric: "m" },
      reason: /^device_id is 101 characters long/,
    },
    {
      name: "sensor type of 101 emoji",
      stream: "mqtt:ingestion",
      fields: { ...base, device_id: "d", metric: "😀".repeat(101) },
      reason: /^sensor_type is 101 characters long/,
    },
    {
      name: "sensor type from the key longer than 100",
      stream: `mqtt_stream:d:${"s".repeat(60)}:${"t".repeat(60)}`,
      fields: base,
      reason: /^sensor_type is 121 characters long/,
    },
    {
      name: "device id with NUL",
      stream: "mqtt:ingestion",
      fields: { ...base, device_id: "a\u0000b", metric: "m" },
      reason: /device_id contains a NUL/,
    },
    {
      name: "shared stream without device_id",
      stream: "mqtt:ingestion",
      fields: { ...base, metric: "m" },
      reason: /^device_id missing/,
    },
    {
      name: "shared stream without metric or sensor_type",
      stream: "mqtt:ingestion",
      fields: { ...base, device_id: "d" },
      reason: /^sensor_type missing: no "sensor_type" or "metric" field and stream key "mqtt:ingestion"/,
    },
    {
      name: "stream key without a sensor type, device_id given",
      stream: "mqtt_stream:esp32",
      fields: { ...base, device_id: "esp32" },
      reason: /^sensor_type missing: .*"mqtt_stream:esp32"/,
    },
    {
      name: "stream key without a sensor type, no fields naming it",
      stream: "mqtt_stream:esp32",
      fields: base,
      reason: /missing: .*"mqtt_stream:esp32".*mqtt_stream:<device_id>:<sensor_type>/,
    },
    {
      name: "stream key with an empty sensor type",
      stream: "mqtt_stream:esp32:",
      fields: base,
      reason: /^sensor_type missing/,
    },
    {
      name: "metadata array",
      fields: { ...base, metadata: "[1,2]" },
      reason: /^metadata is an array; expected a JSON object/,
    },
    {
      name: "metadata number",
      fields: { ...base, metadata: "42" },
      reason: /^metadata is a number; expected a JSON object/,
    },
    {
      name: "metadata string",
      fields: { ...base, metadata: '"x"' },
      reason: /^metadata is a string; expected a JSON object/,
    },
    {
      name: "metadata null",
      fields: { ...base, metadata: "null" },
      reason: /^metadata is null; expected a JSON object/,
    },
    {
      name: "metadata invalid JSON",
      fields: { ...base, metadata: "{room: lab}" },
      reason: /^metadata is not valid JSON \(.+\); expected a JSON object/,
    },
    {
      name: "metadata with \\u0000",
      fields: { ...base, metadata: '{"a":"x\\u0000y"}' },
      reason: /metadata contains \\u0000/,
    },
  ];

  for (const c of bad) {
    await t.step(c.name, () => {
      const reason = expectReason(decode(entry(c.stream ?? stream, c.fields)));
      assert.match(reason, c.reason);
      assert.doesNotMatch(reason, /\n/, "a reason is one line");
    });
  }
});

Deno.test("decode never uses the processing time for a bad timestamp", () => {
  const reason = expectReason(decode(entry("mqtt_stream:d:s", { value: "1", timestamp: "not a time" })));
  assert.match(reason, /expected e\.g\. 2026-11-28T10:00:00\.123456/);
});

Deno.test("decode does not mutate its input", () => {
  const fields = Object.freeze({ value: "1", timestamp: TS, metadata: '{"a":1}', unit: "C" });
  const e = Object.freeze(entry("mqtt_stream:d:s", fields));
  const r = expectReading(decode(e));
  assert.deepEqual(r.metadata, { a: 1, unit: "C" });
  assert.deepEqual(fields, { value: "1", timestamp: TS, metadata: '{"a":1}', unit: "C" });
});

Deno.test("MAX_NAME_LENGTH matches the VARCHAR(100) columns", () => {
  assert.equal(MAX_NAME_LENGTH, 100);
});

Deno.test("parseInstant", async (t) => {
  const cases: [input: string, want: string | undefined][] = [
    // no offset means UTC; microseconds kept
    ["2026-11-28T10:00:00.123456", "2026-11-28T10:00:00.123456+00:00"],
    ["2026-11-28T10:00:00", "2026-11-28T10:00:00+00:00"],
    ["2026-11-28T10:00", "2026-11-28T10:00:00+00:00"],
    ["2026-11-28T10:00:00.5", "2026-11-28T10:00:00.5+00:00"],
    ["2026-11-28T10:00:00,25", "2026-11-28T10:00:00.25+00:00"],
    ["2026-11-28T10:00:00.000001", "2026-11-28T10:00:00.000001+00:00"],
    // offsets kept as written (normalized to ±HH:MM)
    ["2026-11-28T10:00:00+01:00", "2026-11-28T10:00:00+01:00"],
    ["2026-11-28T10:00:00+0100", "2026-11-28T10:00:00+01:00"],
    ["2026-11-28T10:00:00+01", "2026-11-28T10:00:00+01:00"],
    ["2026-11-28T10:00:00-05:30", "2026-11-28T10:00:00-05:30"],
    ["2026-11-28T10:00:00.123456-0330", "2026-11-28T10:00:00.123456-03:30"],
    ["2026-11-28T10:00:00Z", "2026-11-28T10:00:00+00:00"],
    ["2026-11-28T10:00:00.987654Z", "2026-11-28T10:00:00.987654+00:00"],
    ["2026-11-28T10:00:00z", "2026-11-28T10:00:00+00:00"],
    ["2026-11-28T10:00:00+00:00", "2026-11-28T10:00:00+00:00"],
    // separators and whitespace
    ["2026-11-28 10:00:00.123456", "2026-11-28T10:00:00.123456+00:00"],
    ["2026-11-28t10:00:00", "2026-11-28T10:00:00+00:00"],
    ["  2026-11-28T10:00:00Z  ", "2026-11-28T10:00:00+00:00"],
    // calendar edges
    ["2024-02-29T12:00:00", "2024-02-29T12:00:00+00:00"],
    ["2025-02-29T12:00:00", undefined],
    ["2000-02-29T00:00:00", "2000-02-29T00:00:00+00:00"],
    ["1900-02-29T00:00:00", undefined],
    ["2026-04-31T00:00:00", undefined],
    ["2026-12-31T23:59:59.999999", "2026-12-31T23:59:59.999999+00:00"],
    ["2026-02-30T10:00:00", undefined],
    ["2026-13-01T00:00:00", undefined],
    ["2026-00-10T00:00:00", undefined],
    ["2026-01-00T00:00:00", undefined],
    ["0000-01-01T00:00:00", undefined],
    // clock edges
    ["2026-11-28T25:00:00", undefined],
    ["2026-11-28T24:00:00", undefined],
    ["2026-11-28T10:60:00", undefined],
    ["2026-11-28T10:00:60", undefined],
    // a leap second (23:59:60 UTC) is stored as the last microsecond of its minute, fraction dropped
    ["2016-12-31T23:59:60Z", "2016-12-31T23:59:59.999999+00:00"],
    ["2016-12-31T23:59:60.5Z", "2016-12-31T23:59:59.999999+00:00"],
    ["2016-12-31T23:59:60", "2016-12-31T23:59:59.999999+00:00"],
    ["2016-12-31 23:59:60.25", "2016-12-31T23:59:59.999999+00:00"],
    ["2017-01-01T00:59:60+01:00", "2017-01-01T00:59:59.999999+01:00"],
    ["2016-12-31T18:29:60-05:30", "2016-12-31T18:29:59.999999-05:30"],
    ["2016-12-31T18:29:60-0530", "2016-12-31T18:29:59.999999-05:30"],
    ["2016-12-31T23:59:60+01:00", undefined],
    ["2016-12-31T23:58:60Z", undefined],
    ["2016-12-31T23:59:61Z", undefined],
    ["2026-11-28T10:00:00+16:00", undefined],
    ["2026-11-28T10:00:00+01:60", undefined],
    // not instants at all
    ["2026-11-28", undefined],
    ["2026-02-30", undefined],
    ["25:00", undefined],
    ["1764324000", undefined],
    ["garbage", undefined],
    ["", undefined],
    ["2026-11-28T10:00:00.", undefined],
    ["2026-11-28T10:00:00.1234567890", undefined],
    ["2026-11-28T10:00:00+1", undefined],
    ["2026-11-28T10:00:00 UTC", undefined],
    ["Sat, 28 Nov 2026 10:00:00 GMT", undefined],
    ["26-11-28T10:00:00", undefined],
  ];
  for (const [input, want] of cases) {
    await t.step(`${JSON.stringify(input)} → ${want ?? "undefined"}`, () => {
      assert.equal(parseInstant(input), want);
    });
  }
});

Deno.test("parseInstant output is read by Date as the same instant", () => {
  const out = parseInstant("2026-11-28T10:00:00+0100");
  assert.equal(out, "2026-11-28T10:00:00+01:00");
  assert.equal(new Date(out!).toISOString(), "2026-11-28T09:00:00.000Z");
  const utc = parseInstant("2026-11-28 10:00:00.123456");
  assert.equal(new Date(utc!).toISOString(), "2026-11-28T10:00:00.123Z");
});

Deno.test("parseStreamKey", async (t) => {
  const cases: [string, { deviceId?: string; sensorType?: string }][] = [
    ["mqtt_stream:esp32:temperature", { deviceId: "esp32", sensorType: "temperature" }],
    ["mqtt_stream:esp32:env:humidity", { deviceId: "esp32", sensorType: "env:humidity" }],
    ["mqtt_stream:esp32:a:b:c", { deviceId: "esp32", sensorType: "a:b:c" }],
    ["mqtt_stream:esp32", {}],
    ["mqtt:ingestion", {}],
    ["plain", {}],
    ["", {}],
    ["mqtt_stream:failed", {}],
  ];
  for (const [key, want] of cases) {
    await t.step(JSON.stringify(key), () => {
      assert.deepEqual(parseStreamKey(key), want);
    });
  }
});

Deno.test("decode marks a time without a UTC offset as naive, and only such a time", async (t) => {
  const cases: [string, boolean][] = [
    ["2026-11-28T10:00:00.123456", true],
    ["2026-11-28T10:00:00", true],
    ["2026-11-28 10:00", true],
    ["2026-11-28T10:00:00Z", false],
    ["2026-11-28T10:00:00.5z", false],
    ["2026-11-28T10:00:00+00:00", false],
    ["2026-11-28T10:00:00-05:00", false],
    ["2026-11-28T10:00:00+0100", false],
    ["2026-11-28T10:00:00+01", false],
  ];
  for (const [timestamp, naive] of cases) {
    await t.step(timestamp, () => {
      const r = expectReading(decode(entry("mqtt_stream:d:s", { value: "1", timestamp })));
      assert.equal(r.naiveTime === true, naive);
      assert.equal(Object.hasOwn(r, "naiveTime"), naive, "set only when true");
    });
  }
});

Deno.test("decode takes the current iotDashboard ingestion service's entries as it writes them", async (t) => {
  // Its fields: device_id, metric, value as Python's str(float), timestamp as datetime.utcnow().isoformat()
  // (no fraction when the microseconds are 0), on the one stream mqtt:ingestion.
  const accepted: [value: string, timestamp: string, want: number, time: string][] = [
    ["23.5", "2026-11-28T10:00:00.123456", 23.5, "2026-11-28T10:00:00.123456+00:00"],
    ["23.0", "2026-11-28T10:00:00", 23, "2026-11-28T10:00:00+00:00"],
    ["1e-05", "2026-11-28T10:00:00.000001", 0.00001, "2026-11-28T10:00:00.000001+00:00"],
    ["1e+16", "2026-11-28T10:00:00.5", 1e16, "2026-11-28T10:00:00.5+00:00"],
    ["-0.0", "2026-11-28T10:00:00", -0, "2026-11-28T10:00:00+00:00"],
  ];
  for (const [value, timestamp, want, time] of accepted) {
    await t.step(`value ${value}, timestamp ${timestamp}`, () => {
      const r = expectReading(
        decode(entry("mqtt:ingestion", { device_id: "esp32-01", metric: "temperature", value, timestamp })),
      );
      assert.deepEqual(
        [r.deviceId, r.sensorType, r.value, r.time, r.naiveTime, r.sourceStream],
        ["esp32-01", "temperature", want, time, true, "mqtt:ingestion"],
      );
    });
  }
  for (const value of ["nan", "inf", "-inf"]) {
    await t.step(`value ${value} (str of a float that is not finite) is rejected`, () => {
      const d = decode(entry("mqtt:ingestion", { device_id: "d", metric: "m", value, timestamp: TS }));
      assert.ok(!d.ok && d.class === "bad_value", JSON.stringify(d));
    });
  }
});

Deno.test("decode with one key cache for a whole run decides every entry as a fresh decode does", () => {
  // Fixed seeds: unit tests run without permissions (no TEST_SEED).
  for (const seed of [1, 20261202]) decidesAsFresh(seed);
});

function decidesAsFresh(seed: number): void {
  const keys = keyNamesCache();
  // Few stream keys, many entries each (as a service reads them), some keys naming no device or sensor.
  const streams = ["mqtt_stream:esp32-01:temperature", "mqtt_stream:esp32", "mqtt:ingestion", "s:d:a:b", "x"];
  const messages = generateMessages(seed, 3000);
  messages.forEach((m, i) => {
    const entry = { stream: streams[i % streams.length]!, id: `1795000000000-${i}`, fields: asEntryFields(m) };
    assert.deepEqual(decode(entry, DEFAULT_LIMITS, keys), decode(entry), `seed ${seed}, entry ${i} (${m.kind})`);
  });
}

Deno.test("metadata is kept as the message wrote it, and serialized when a unit was merged in", () => {
  const text = '{ "n": 12345678901234567890, "x": 1.50 }';
  const plain = expectReading(decode(entry("mqtt_stream:d:s", { value: "1", timestamp: TS, metadata: text })));
  assert.equal(plain.metadataText, text);
  const withUnit = expectReading(
    decode(entry("mqtt_stream:d:s", { value: "1", timestamp: TS, metadata: text, unit: "C" })),
  );
  assert.equal(withUnit.metadataText, undefined);
  assert.deepEqual(withUnit.metadata, { n: 12345678901234567890, x: 1.5, unit: "C" });
  const none = expectReading(decode(entry("mqtt_stream:d:s", { value: "1", timestamp: TS, metadata: " " })));
  assert.equal(none.metadataText, undefined);
  assert.equal(none.metadata, null);
});

Deno.test("Memo works out each key once and never holds more than its bound", () => {
  let worked = 0;
  const memo = new Memo((k) => `${k}!${++worked}`, 3);
  assert.equal(memo.get("a"), "a!1");
  assert.equal(memo.get("a"), "a!1");
  memo.get("b");
  memo.get("c");
  assert.equal(worked, 3);
  memo.get("d"); // full: emptied, then d
  assert.equal(memo.get("a"), "a!5");
  assert.equal(worked, 5);
});

Deno.test("metadata text PostgreSQL might refuse as NUMERIC is stored as read instead", () => {
  for (const text of ['{"big":1e400}', '{"x":1E-999}', `{"pad":"${"x".repeat(9000)}"}`]) {
    const r = expectReading(decode(entry("mqtt_stream:d:s", { value: "1", timestamp: TS, metadata: text })));
    assert.equal(r.metadataText, undefined, text.slice(0, 20));
    assert.deepEqual(r.metadata, JSON.parse(text));
  }
  const kept = expectReading(decode(entry("mqtt_stream:d:s", { value: "1", timestamp: TS, metadata: '{"x":1e99}' })));
  assert.equal(kept.metadataText, '{"x":1e99}');
});
