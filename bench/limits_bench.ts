/**
 * Cost of decoding one entry, and of the input-limit checks within it.
 *
 *   deno task bench:micro
 */
import { decode } from "../src/decode/decode.ts";
import type { StreamEntry } from "../src/ports.ts";
import { DEFAULT_LIMITS, jsonTextProblem, messageOverLimits } from "../src/decode/limits.ts";

const typical: StreamEntry = {
  stream: "mqtt_stream:esp32-01:temperature",
  id: "1795877585164-0",
  fields: {
    value: "23.5",
    timestamp: "2026-11-28T10:00:00.123456",
    metadata: '{"room":"lab-2","fw":"1.4.0","rssi":-67}',
    unit: "C",
  },
};
const bigMeta = JSON.stringify({ tags: Array.from({ length: 200 }, (_, i) => ({ k: `tag${i}`, v: i })) });
const big: StreamEntry = { ...typical, fields: { ...typical.fields, metadata: bigMeta } };

Deno.bench("decode, typical entry", { group: "typical", baseline: true }, () => {
  decode(typical);
});
Deno.bench("message caps check, typical entry", { group: "typical" }, () => {
  messageOverLimits(typical.fields, DEFAULT_LIMITS);
});
Deno.bench("metadata scan (depth, escapes), typical entry", { group: "typical" }, () => {
  jsonTextProblem(typical.fields.metadata!, DEFAULT_LIMITS.maxMetadataDepth);
});
Deno.bench(`decode, ${bigMeta.length}-byte metadata`, { group: "big", baseline: true }, () => {
  decode(big);
});
Deno.bench(`metadata scan, ${bigMeta.length}-byte metadata`, { group: "big" }, () => {
  jsonTextProblem(bigMeta, DEFAULT_LIMITS.maxMetadataDepth);
});
