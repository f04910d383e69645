/**
 * Micro-benchmarks of the per-message hot path: the reply's flat field list
 * to an object, and decoding an entry into a reading.
 *
 *   deno task bench:micro
 */
import { decode } from "../src/decode/decode.ts";
import { parseInstant } from "../src/decode/instant.ts";
import { fieldsToObject } from "../src/source/fields.ts";

const STREAM = "mqtt_stream:dev-042:temperature";
const FLAT = [
  "value",
  "23.45",
  "timestamp",
  "2026-11-28T10:00:00.123456",
  "metadata",
  '{"fw":"1.4.2","rssi":-61,"seq":4242}',
];
const FIELDS = fieldsToObject(FLAT);
const SHARED = {
  device_id: "esp32-01",
  metric: "humidity",
  value: "41.2",
  unit: "%",
  timestamp: "2026-11-28T10:00:00+01:00",
};

Deno.bench("fieldsToObject (3 fields)", () => {
  fieldsToObject(FLAT);
});

Deno.bench("parseInstant (naive, microseconds)", () => {
  parseInstant("2026-11-28T10:00:00.123456");
});

Deno.bench("decode: per-sensor entry with metadata", { baseline: true }, () => {
  decode({ stream: STREAM, id: "1795877585164-0", fields: FIELDS });
});

Deno.bench("decode: shared-stream entry with unit", () => {
  decode({ stream: "mqtt:ingestion", id: "1795877585164-0", fields: SHARED });
});

Deno.bench("decode: rejected value", () => {
  decode({ stream: STREAM, id: "1795877585164-0", fields: { ...FIELDS, value: "n/a" } });
});
