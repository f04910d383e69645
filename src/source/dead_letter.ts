/**
 * Dead letters: a rejected entry goes to the dead-letter stream with the
 * reason and every original field, and is acknowledged in the same atomic
 * step (a Lua script), so a crash can neither lose it nor send it twice.
 * In a Redis Cluster the two keys usually live in different slots, where no
 * script can reach both: there the dead letter is added first and the entry
 * acknowledged after, so a crash in between duplicates a dead letter but
 * never loses an entry.
 */
import type { StreamEntry } from "../reading.ts";
import { parseStreamKey } from "../reading.ts";
import { isCluster, type RedisClient, setOwnField } from "./redis.ts";

/** An entry to dead-letter and why. */
export interface DeadLetter {
  readonly entry: StreamEntry;
  readonly reason: string;
}

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
export function deadLetterFields(letter: DeadLetter, nowMs: number): string[] {
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

// XACK first: only an entry still pending for the group is dead-lettered, so
// two consumers racing over one entry (after a claim) write one dead letter.
const ACK_THEN_ADD = `
local acked = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if acked == 0 then return 0 end
local maxlen = tonumber(ARGV[3])
if maxlen > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', maxlen, '*', unpack(ARGV, 4))
else
  redis.call('XADD', KEYS[2], '*', unpack(ARGV, 4))
end
return 1`;

/** Writes dead letters and acknowledges their entries. */
export class DeadLetterWriter {
  constructor(
    private readonly redis: RedisClient,
    private readonly opts: { stream: string; group: string; maxLen: number; now?: () => number },
  ) {}

  /**
   * Dead-letters each letter and acks its entry atomically; returns, per
   * letter, whether it was new (false: its entry was no longer pending).
   */
  async send(letters: readonly DeadLetter[]): Promise<boolean[]> {
    if (letters.length === 0) return [];
    const now = (this.opts.now ?? Date.now)();
    if (isCluster(this.redis)) return await this.#sendAcrossSlots(letters, now);
    const pipe = this.redis.pipeline();
    for (const letter of letters) {
      pipe.eval(
        ACK_THEN_ADD,
        2,
        letter.entry.stream,
        this.opts.stream,
        this.opts.group,
        letter.entry.id,
        String(this.opts.maxLen),
        ...deadLetterFields(letter, now),
      );
    }
    const results = (await pipe.exec()) ?? [];
    return results.map(([err, value]) => {
      if (err) throw err;
      return Number(value) === 1;
    });
  }

  /**
   * Cluster mode: skip entries no longer pending (another consumer dealt
   * with them), then for each entry XADD its dead letter, then XACK it.
   */
  async #sendAcrossSlots(letters: readonly DeadLetter[], now: number): Promise<boolean[]> {
    const { group, stream, maxLen } = this.opts;
    const cluster = this.redis;
    const pending = await Promise.all(
      letters.map(({ entry }) =>
        (cluster.xpending(entry.stream, group, entry.id, entry.id, 1) as Promise<unknown[]>).then(
          (p) => p.length > 0,
          // The stream or its group was deleted meanwhile: nothing is pending (as XACK answers 0 on one server).
          (err: Error) => String(err.message).startsWith("NOGROUP") ? false : Promise.reject(err),
        )
      ),
    );
    const due = letters.filter((_, i) => pending[i]);
    const trim = maxLen > 0 ? ["MAXLEN", "~", maxLen] as const : [];
    // Each entry is acked right after its own dead letter: when another XADD
    // fails and the batch is retried, the ones done are no longer pending
    // and are skipped above, instead of being dead-lettered twice.
    await Promise.all(
      due.map((letter) =>
        cluster.xadd(stream, ...trim, "*", ...deadLetterFields(letter, now))
          .then(() => cluster.xack(letter.entry.stream, group, letter.entry.id))
      ),
    );
    return pending;
  }
}
