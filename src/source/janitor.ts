/**
 * Keeps the consumer group tidy: consumers that have been idle for long with
 * nothing pending (instances that stopped for good) are removed.
 */
import type { Logger } from "../log.ts";
import { fieldsToObject } from "./fields.ts";
import type { RedisClient } from "./redis.ts";
import { REMOVE_IF_IDLE_AND_EMPTY } from "./scripts.ts";

/** Removes other consumers of `group` idle longer than `idleMs` with nothing pending. */
export async function removeIdleConsumers(
  redis: RedisClient,
  streams: readonly string[],
  opts: { readonly group: string; readonly consumer: string; readonly idleMs: number; readonly log: Logger },
): Promise<void> {
  for (const stream of streams) {
    const infos = (await redis.xinfo("CONSUMERS", stream, opts.group)) as unknown[][];
    for (const flat of infos) {
      const info = fieldsToObject(flat.map(String));
      if (info.name === opts.consumer || Number(info.pending) !== 0 || Number(info.idle) <= opts.idleMs) continue;
      // Checked again inside Redis, atomically: a consumer that received
      // entries meanwhile keeps them (deleting it would drop its pending list).
      const removed = await redis.eval(REMOVE_IF_IDLE_AND_EMPTY, 1, stream, opts.group, info.name!, opts.idleMs);
      if (Number(removed) === 1) {
        opts.log.info("removed idle consumer", { stream, consumer: info.name, idle_ms: Number(info.idle) });
      }
    }
  }
}
