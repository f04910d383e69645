/**
 * Acknowledging a batch's entries: one XACK for a single stream, one script
 * for many (a command per stream cost as much as the rest of the batch), and
 * on a Redis Cluster one XACK per stream, each sent to its stream's node.
 */
import type { StreamEntry } from "../ports.ts";
import { isCluster, type RedisClient } from "./redis.ts";
import { ACK_ALL } from "./scripts.ts";

/** The ids of `entries`, by stream, in their order. */
export function idsByStream(entries: readonly StreamEntry[]): Map<string, string[]> {
  const byStream = new Map<string, string[]>();
  for (const e of entries) {
    const ids = byStream.get(e.stream);
    if (ids) ids.push(e.id);
    else byStream.set(e.stream, [e.id]);
  }
  return byStream;
}

/** Acknowledges `entries` in `group`. */
export async function ackEntries(redis: RedisClient, group: string, entries: readonly StreamEntry[]): Promise<void> {
  if (entries.length === 0) return;
  const byStream = idsByStream(entries);
  if (isCluster(redis)) {
    // A pipeline may not span nodes: one XACK per stream, sent concurrently, each to its stream's node.
    await Promise.all([...byStream].map(([stream, ids]) => redis.xack(stream, group, ...ids)));
    return;
  }
  if (byStream.size === 1) {
    for (const [stream, ids] of byStream) await redis.xack(stream, group, ...ids);
    return;
  }
  // One script for the whole batch instead of one XACK per stream: over
  // hundreds of streams a batch holds one or two entries per stream.
  const keys: string[] = [], args: string[] = [group];
  for (const [stream, ids] of byStream) {
    keys.push(stream);
    args.push(String(ids.length), ...ids);
  }
  await redis.eval(ACK_ALL, keys.length, ...keys, ...args);
}
