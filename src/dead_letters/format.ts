/**
 * The shape of a dead-letter entry (pure): the reason and every original
 * field, kept so that a replay is lossless; and the way back for replay.
 */
import type { DeadLetter } from "../ports.ts";
import { parseStreamKey } from "../decode/stream_key.ts";
import { setOwnField } from "../source/fields.ts";

/** Names the dead-letter entry itself uses; original fields with these names are kept under a prefix on a clash. */
export const META_FIELDS = [
  "original_stream",
  "original_id",
  "device_id",
  "sensor_type",
  "value",
  "error",
  "failed_at",
  "original_fields",
] as const;

/** Prefix for an original field whose name clashes with a different meta value. */
export const CLASH_PREFIX = "original_field:";

/** The flat field list of a dead-letter entry (pure). */
export function deadLetterFields(letter: Pick<DeadLetter, "entry" | "reason">, nowMs: number): string[] {
  const { entry, reason } = letter;
  const f = entry.fields;
  const key = parseStreamKey(entry.stream);
  const names = Object.keys(f);
  // Past PACK_ABOVE_FIELDS the fields cannot each be an argument of the
  // script (Redis's Lua unpacks at most about 8000 values): their values go
  // into `original_fields` too, as {"names": [...], "values": [...]}.
  const packed = names.length > PACK_ABOVE_FIELDS;
  const meta: Record<string, string> = {
    original_stream: entry.stream,
    original_id: entry.id,
    device_id: f.device_id ?? key.deviceId ?? "",
    sensor_type: f.sensor_type ?? f.metric ?? key.sensorType ?? "",
    value: f.value ?? "",
    error: reason,
    failed_at: (nowMs / 1000).toFixed(3),
    original_fields: JSON.stringify(packed ? { names, values: names.map((n) => f[n]) } : names),
  };
  const out: string[] = [];
  for (const [k, v] of Object.entries(meta)) out.push(k, v);
  if (packed) return out;
  for (const [k, v] of Object.entries(f)) {
    if (!Object.hasOwn(meta, k)) out.push(k, v);
    else if (meta[k] !== v) out.push(CLASH_PREFIX + k, v);
  }
  return out;
}

/** Entries with more fields than this keep them inside `original_fields` in their dead letter. */
export const PACK_ABOVE_FIELDS = 2000;

/** Rebuilds the original fields of a dead-letter entry (for replay). */
export function originalFields(dead: Readonly<Record<string, string>>): Record<string, string> {
  let names: unknown;
  try {
    names = JSON.parse(dead.original_fields ?? "null");
  } catch {
    names = null;
  }
  const out: Record<string, string> = {};
  const packed = names as { names?: unknown; values?: unknown } | null;
  if (packed !== null && Array.isArray(packed.names) && Array.isArray(packed.values)) {
    packed.names.forEach((n, i) => {
      const v = (packed.values as unknown[])[i];
      if (typeof n === "string" && typeof v === "string") setOwnField(out, n, v);
    });
    return out;
  }
  if (Array.isArray(names)) {
    for (const n of names) {
      if (typeof n !== "string") continue;
      const v = Object.hasOwn(dead, CLASH_PREFIX + n)
        ? dead[CLASH_PREFIX + n]
        : Object.hasOwn(dead, n)
        ? dead[n]
        : undefined;
      if (v !== undefined) setOwnField(out, n, v);
    }
    return out;
  }
  // An entry written by another tool: everything but the meta fields.
  for (const [k, v] of Object.entries(dead)) {
    if (!(META_FIELDS as readonly string[]).includes(k)) out[k] = v;
  }
  return out;
}
