/**
 * The Redis side of the pipeline: reads a batch (own pending first, then
 * entries other consumers left idle, then new ones), acknowledges, and keeps
 * the consumer group tidy. Never holds more than BATCH_SIZE entries per read.
 * Against a Redis Cluster, new entries come through a {@link ClusterReader}
 * (one read per slot, no blocking) and acknowledgements go per stream.
 */
import type { StreamEntry } from "../reading.ts";
import type { Logger } from "../log.ts";
import { fieldsToObject, isCluster, type RedisClient } from "./redis.ts";
import { ClusterReader } from "./cluster_reader.ts";
import type { StreamDiscovery } from "./discovery.ts";
import { sleep } from "../retry.ts";

/** A stream entry and how many times the group has delivered it (1 = first time). */
export interface Delivery extends StreamEntry {
  readonly deliveries: number;
}

/** What the pipeline needs from its input. */
export interface Source {
  /** Up to one batch of entries; waits at most the block time when idle. */
  read(signal: AbortSignal): Promise<Delivery[]>;
  /** Acknowledges entries that are now rows. */
  ack(entries: readonly StreamEntry[]): Promise<void>;
}

type XEntry = [id: string, fields: string[] | null];
type XReply = [stream: string, entries: XEntry[]][] | null;

/** Settings of a {@link RedisSource}. */
export interface RedisSourceOptions {
  readonly group: string;
  readonly consumer: string;
  readonly batchSize: number;
  readonly blockMs: number;
  readonly claimMinIdleMs: number;
  readonly consumerRemoveIdleMs: number;
  readonly discoveryIntervalMs: number;
  readonly log: Logger;
  readonly now?: () => number;
}

/** Reads from every discovered stream through one consumer of the group. */
export class RedisSource implements Source {
  readonly #now: () => number;
  #nextDiscovery = 0;
  #nextClaim = 0;
  /** Per stream: where the scan of this consumer's own pending entries has got to; absent when done. */
  #ownPending = new Map<string, string>();
  #ownPendingStarted = false;
  /** Per stream: the XAUTOCLAIM cursor of the current sweep. */
  #claimCursor = new Map<string, string>();
  #blockingId: number | undefined;
  /** Where the next read window starts, when there are more streams than BATCH_SIZE. */
  #window = 0;
  /** Set in cluster mode, where multi-key reads must stay within one slot. */
  readonly #clusterReader: ClusterReader | undefined;

  constructor(
    private readonly cmd: RedisClient,
    private readonly blocking: RedisClient,
    private readonly discovery: StreamDiscovery,
    private readonly opts: RedisSourceOptions,
  ) {
    this.#now = opts.now ?? Date.now;
    if (isCluster(blocking)) {
      // New entries come over the read connections, as on one server, but
      // nothing blocks: nothing to unblock on shutdown, the abort signal ends the idle pause.
      this.#clusterReader = new ClusterReader(blocking, { group: opts.group, consumer: opts.consumer });
      return;
    }
    blocking.on("ready", () => {
      blocking.client("ID").then((id) => (this.#blockingId = Number(id)), () => {});
    });
  }

  /** Re-reads this consumer's own pending entries before new ones (after a Redis error, say). */
  rescanOwnPending(): void {
    this.#ownPendingStarted = false;
  }

  async read(signal: AbortSignal): Promise<Delivery[]> {
    const now = this.#now();
    if (now >= this.#nextDiscovery) {
      await this.discovery.refresh();
      this.#nextDiscovery = now + this.opts.discoveryIntervalMs;
    }
    const streams = this.discovery.streams;
    if (streams.length === 0) {
      await sleep(this.opts.blockMs, signal);
      return [];
    }
    try {
      if (!this.#ownPendingStarted) {
        this.#ownPending = new Map(streams.map((s) => [s, "0-0"]));
        this.#ownPendingStarted = true;
      }
      if (this.#ownPending.size > 0) {
        const own = await this.#readOwnPending();
        if (own.length > 0) return own;
      }
      if (now >= this.#nextClaim) {
        const claimed = await this.#claimIdle(streams);
        if (claimed.length > 0) return claimed;
        this.#nextClaim = this.#now() + Math.min(this.opts.claimMinIdleMs / 2, 30_000);
        await this.#removeIdleConsumers(streams);
      }
      return await this.#readNew(streams, signal);
    } catch (err) {
      if (String((err as Error).message).startsWith("NOGROUP")) {
        // A stream or the group was deleted under us: rediscover at once.
        this.opts.log.warn("consumer group or stream vanished; rediscovering", { error: (err as Error).message });
        this.discovery.invalidate();
        this.#nextDiscovery = 0;
        // In a cluster, the reads of other slots may have delivered entries in the same round.
        this.rescanOwnPending();
        return [];
      }
      throw err;
    }
  }

  async ack(entries: readonly StreamEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const byStream = new Map<string, string[]>();
    for (const e of entries) {
      const ids = byStream.get(e.stream);
      if (ids) ids.push(e.id);
      else byStream.set(e.stream, [e.id]);
    }
    if (isCluster(this.cmd)) {
      // A pipeline may not span nodes: one XACK per stream, sent concurrently, each to its stream's node.
      await Promise.all([...byStream].map(([stream, ids]) => this.cmd.xack(stream, this.opts.group, ...ids)));
      return;
    }
    if (byStream.size === 1) {
      for (const [stream, ids] of byStream) await this.cmd.xack(stream, this.opts.group, ...ids);
      return;
    }
    // One script for the whole batch instead of one XACK per stream: over
    // hundreds of streams a batch holds one or two entries per stream, and a
    // command per stream cost as much as the rest of the batch.
    const keys: string[] = [], args: string[] = [this.opts.group];
    for (const [stream, ids] of byStream) {
      keys.push(stream);
      args.push(String(ids.length), ...ids);
    }
    await this.cmd.eval(ACK_ALL, keys.length, ...keys, ...args);
  }

  /** Interrupts a blocking read at once (used on shutdown). */
  async interrupt(): Promise<void> {
    if (this.#blockingId === undefined) return;
    try {
      await this.cmd.client("UNBLOCK", this.#blockingId);
    } catch {
      // the read ends by itself within the block time
    }
  }

  async #readOwnPending(): Promise<Delivery[]> {
    const out: Delivery[] = [];
    for (const [stream, cursor] of this.#ownPending) {
      const reply = (await this.cmd.xreadgroup(
        "GROUP",
        this.opts.group,
        this.opts.consumer,
        "COUNT",
        this.opts.batchSize - out.length,
        "STREAMS",
        stream,
        cursor,
      )) as XReply;
      const entries = reply?.[0]?.[1] ?? [];
      if (entries.length === 0) {
        this.#ownPending.delete(stream);
      } else {
        this.#ownPending.set(stream, entries[entries.length - 1]![0]);
        out.push(...(await this.#withCounts(stream, entries)));
      }
      if (out.length >= this.opts.batchSize) break;
    }
    if (out.length > 0) this.opts.log.info("re-reading own pending entries", { count: out.length });
    return out;
  }

  async #claimIdle(streams: readonly string[]): Promise<Delivery[]> {
    const out: Delivery[] = [];
    for (const stream of streams) {
      const cursor = this.#claimCursor.get(stream) ?? "0-0";
      const reply = (await this.cmd.xautoclaim(
        stream,
        this.opts.group,
        this.opts.consumer,
        this.opts.claimMinIdleMs,
        cursor,
        "COUNT",
        this.opts.batchSize - out.length,
      )) as [string, XEntry[], string[]?];
      const [next, entries, deleted = []] = reply;
      if (next === "0-0") this.#claimCursor.delete(stream);
      else this.#claimCursor.set(stream, next);
      await this.#ackVanished(stream, deleted);
      if (entries.length > 0) out.push(...(await this.#withCounts(stream, entries)));
      if (out.length >= this.opts.batchSize) break;
    }
    if (out.length > 0) this.opts.log.info("claimed idle pending entries", { count: out.length });
    return out;
  }

  /** Entries deleted from the stream while pending: nothing is left to store; ack and say so. */
  async #ackVanished(stream: string, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.cmd.xack(stream, this.opts.group, ...ids);
    this.opts.log.warn("pending entries were deleted from the stream before being stored", {
      stream,
      count: ids.length,
      ids: ids.slice(0, 10),
    });
  }

  /** Adds delivery counts (from XPENDING) to entries re-read or claimed. */
  async #withCounts(stream: string, entries: XEntry[]): Promise<Delivery[]> {
    const live = entries.filter((e): e is [string, string[]] => e[1] !== null);
    await this.#ackVanished(stream, entries.filter((e) => e[1] === null).map((e) => e[0]));
    if (live.length === 0) return [];
    const first = live[0]![0], last = live[live.length - 1]![0];
    const pending = (await this.cmd.xpending(
      stream,
      this.opts.group,
      first,
      last,
      live.length * 4 + 100,
      this.opts.consumer,
    )) as [string, string, number, number][];
    const counts = new Map(pending.map((p) => [p[0], Number(p[3])]));
    return live.map(([id, flat]) => ({ stream, id, fields: fieldsToObject(flat), deliveries: counts.get(id) ?? 1 }));
  }

  async #readNew(all: readonly string[], signal: AbortSignal): Promise<Delivery[]> {
    if (signal.aborted) return [];
    // COUNT applies per stream; keep the total within one batch. With more
    // streams than BATCH_SIZE, read a rotating window of BATCH_SIZE streams and
    // block only briefly on each, so every stream is visited soon.
    let streams = all;
    let blockMs = this.opts.blockMs;
    if (all.length > this.opts.batchSize) {
      const from = this.#window % all.length;
      streams = [...all.slice(from), ...all.slice(0, from)].slice(0, this.opts.batchSize);
      this.#window = from + this.opts.batchSize;
      blockMs = Math.min(blockMs, 100);
    }
    const perStream = Math.max(1, Math.floor(this.opts.batchSize / streams.length));
    if (this.#clusterReader) {
      return await this.#clusterReader.read(streams, perStream, this.opts.batchSize, blockMs, signal);
    }
    const first = (await this.blocking.xreadgroup(
      "GROUP",
      this.opts.group,
      this.opts.consumer,
      "COUNT",
      perStream,
      "BLOCK",
      blockMs,
      "STREAMS",
      ...streams,
      ...streams.map(() => ">"),
    )) as XReply;
    const out: Delivery[] = [];
    const full: string[] = [];
    for (const [stream, entries] of first ?? []) {
      for (const [id, flat] of entries) out.push({ stream, id, fields: fieldsToObject(flat ?? []), deliveries: 1 });
      if (entries.length === perStream) full.push(stream);
    }
    // Busy streams may have more: fill the rest of the batch from them, without blocking.
    const room = this.opts.batchSize - out.length;
    if (full.length > 0 && room >= full.length) {
      const more = (await this.cmd.xreadgroup(
        "GROUP",
        this.opts.group,
        this.opts.consumer,
        "COUNT",
        Math.floor(room / full.length),
        "STREAMS",
        ...full,
        ...full.map(() => ">"),
      )) as XReply;
      for (const [stream, entries] of more ?? []) {
        for (const [id, flat] of entries) out.push({ stream, id, fields: fieldsToObject(flat ?? []), deliveries: 1 });
      }
    }
    return out;
  }

  async #removeIdleConsumers(streams: readonly string[]): Promise<void> {
    for (const stream of streams) {
      const infos = (await this.cmd.xinfo("CONSUMERS", stream, this.opts.group)) as unknown[][];
      for (const flat of infos) {
        const info = fieldsToObject(flat.map(String));
        if (
          info.name !== this.opts.consumer && Number(info.pending) === 0 &&
          Number(info.idle) > this.opts.consumerRemoveIdleMs
        ) {
          // Checked again inside Redis, atomically: a consumer that received
          // entries meanwhile keeps them (deleting it would drop its pending list).
          const removed = await this.cmd.eval(
            REMOVE_IF_IDLE_AND_EMPTY,
            1,
            stream,
            this.opts.group,
            info.name!,
            this.opts.consumerRemoveIdleMs,
          );
          if (Number(removed) === 1) {
            this.opts.log.info("removed idle consumer", { stream, consumer: info.name, idle_ms: Number(info.idle) });
          }
        }
      }
    }
  }
}

/**
 * XACK for several streams: KEYS are the streams, ARGV[1] the group, then for
 * each stream its number of ids followed by the ids. Ids go to XACK in slices,
 * since Lua's unpack() fails beyond about 8000 values.
 */
const ACK_ALL = `
local a = 2
for k = 1, #KEYS do
  local last = a + tonumber(ARGV[a])
  local i = a + 1
  while i <= last do
    local j = math.min(i + 3999, last)
    redis.call('XACK', KEYS[k], ARGV[1], unpack(ARGV, i, j))
    i = j + 1
  end
  a = last + 1
end
return 1`;

const REMOVE_IF_IDLE_AND_EMPTY = `
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if f['name'] == ARGV[2] then
    if f['pending'] == 0 and f['idle'] > tonumber(ARGV[3]) then
      redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
      return 1
    end
    return 0
  end
end
return 0`;
