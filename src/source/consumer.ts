/**
 * The Redis side of the pipeline: reads a batch (own pending first, then
 * entries other consumers left idle, then new ones), acknowledges, and keeps
 * the consumer group tidy. Never holds more than BATCH_SIZE entries per read.
 * Against a Redis Cluster, new entries come through a {@link ClusterReader}
 * (one read per slot, no blocking) and acknowledgements go per stream.
 *
 * New entries: a blocking read over every stream while live; while the last
 * read filled at least half a batch, a rotating {@link backlogWindow} without
 * BLOCK, until a read returns less. Both stay within BATCH_SIZE.
 */
import type { Delivery, Source, StreamEntry } from "../ports.ts";
import type { Logger } from "../log.ts";
import { isCluster, type RedisClient } from "./redis.ts";
import { redisErrorCode } from "../errors.ts";
import { fieldsToObject } from "./fields.ts";
import { ClusterReader } from "./cluster_reader.ts";
import type { StreamDiscovery } from "./discovery.ts";
import { PendingReader, type XEntry } from "./pending.ts";
import { removeIdleConsumers } from "./janitor.ts";
import { ACK_ALL } from "./scripts.ts";
import { backlogWindow } from "./window.ts";
import { sleep } from "../async/delay.ts";

type XReply = [stream: string, entries: XEntry[]][] | null;

const NEVER = new AbortController().signal;

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
  readonly #pending: PendingReader;
  /** False once this consumer's own pending entries have all been re-read (until the next rescan). */
  #ownLeft = true;
  #blockingId: number | undefined;
  /** Where the next read window starts, when there are more streams than BATCH_SIZE. */
  #window = 0;
  /** True while the last read of new entries filled at least half a batch: read in backlog windows. */
  #backlog = false;
  /** Where the next backlog window starts. */
  #backlogFrom = 0;
  /** Set in cluster mode, where multi-key reads must stay within one slot. */
  readonly #clusterReader: ClusterReader | undefined;

  constructor(
    private readonly cmd: RedisClient,
    private readonly blocking: RedisClient,
    private readonly discovery: StreamDiscovery,
    private readonly opts: RedisSourceOptions,
  ) {
    this.#now = opts.now ?? Date.now;
    this.#pending = new PendingReader(cmd, opts);
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
    this.#pending.rescan();
    this.#ownLeft = true;
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
      if (this.#ownLeft) {
        const own = await this.#pending.readOwn(streams);
        if (own.length > 0) return own;
        this.#ownLeft = false;
      }
      if (now >= this.#nextClaim) {
        const claimed = await this.#pending.claimIdle(streams);
        if (claimed.length > 0) return claimed;
        this.#nextClaim = this.#now() + Math.min(this.opts.claimMinIdleMs / 2, 30_000);
        await removeIdleConsumers(this.cmd, streams, {
          group: this.opts.group,
          consumer: this.opts.consumer,
          idleMs: this.opts.consumerRemoveIdleMs,
          log: this.opts.log,
        });
      }
      return await this.#readNew(streams, signal);
    } catch (err) {
      if (redisErrorCode(err) === "NOGROUP") {
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

  async #readNew(all: readonly string[], signal: AbortSignal): Promise<Delivery[]> {
    if (signal.aborted) return [];
    if (this.#backlog) {
      const out = await this.#readWindow(all);
      this.#backlog = out.length * 2 >= this.opts.batchSize;
      if (out.length > 0) return out;
    }
    const out = await this.#readAll(all, signal);
    this.#backlog = out.length * 2 >= this.opts.batchSize;
    return out;
  }

  /**
   * One read without BLOCK of a rotating window of streams: `COUNT` 50 (more
   * when there are few streams) from each of up to 40 streams, never more
   * than one batch in total.
   */
  async #readWindow(all: readonly string[]): Promise<Delivery[]> {
    const { streams, count, next } = backlogWindow(all, this.#backlogFrom, this.opts.batchSize);
    this.#backlogFrom = next;
    if (this.#clusterReader) return await this.#clusterReader.read(streams, count, this.opts.batchSize, 0, NEVER);
    const reply = (await this.blocking.xreadgroup(
      "GROUP",
      this.opts.group,
      this.opts.consumer,
      "COUNT",
      count,
      "STREAMS",
      ...streams,
      ...streams.map(() => ">"),
    )) as XReply;
    const out: Delivery[] = [];
    for (const [stream, entries] of reply ?? []) {
      for (const [id, flat] of entries) out.push({ stream, id, fields: fieldsToObject(flat ?? []), deliveries: 1 });
    }
    return out;
  }

  /** The blocking read over every stream (a rotating window of BATCH_SIZE streams when there are more). */
  async #readAll(all: readonly string[], signal: AbortSignal): Promise<Delivery[]> {
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
}
