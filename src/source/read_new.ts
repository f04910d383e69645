/** One XREADGROUP of new entries (`>`) from some streams, as deliveries. */
import type { Delivery } from "../ports.ts";
import type { RedisClient } from "./redis.ts";
import type { XEntry } from "./pending.ts";
import { fieldsToObject } from "./fields.ts";

type XReply = [stream: string, entries: XEntry[]][] | null;

/**
 * Reads up to `count` new entries from each of `streams` for `consumer` of
 * `group`, blocking up to `blockMs` when given. `full` names the streams that
 * gave all `count` (they may have more).
 */
export async function readGroupNew(
  redis: RedisClient,
  who: { readonly group: string; readonly consumer: string },
  streams: readonly string[],
  count: number,
  blockMs?: number,
): Promise<{ entries: Delivery[]; full: string[] }> {
  const block = blockMs === undefined ? [] : ["BLOCK", blockMs];
  const reply = (await redis.xreadgroup(
    "GROUP",
    who.group,
    who.consumer,
    "COUNT",
    count,
    ...(block as ["BLOCK", number]),
    "STREAMS",
    ...streams,
    ...streams.map(() => ">"),
  )) as XReply;
  const entries: Delivery[] = [];
  const full: string[] = [];
  for (const [stream, list] of reply ?? []) {
    for (const [id, flat] of list) entries.push({ stream, id, fields: fieldsToObject(flat ?? []), deliveries: 1 });
    if (list.length === count) full.push(stream);
  }
  return { entries, full };
}
