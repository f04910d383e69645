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
import { ClusterReader } from "./cluster_reader.ts";
import type { StreamDiscovery } from "./discovery.ts";
import { PendingReader } from "./pending.ts";
import { removeIdleConsumers } from "./janitor.ts";
import { keepOwn } from "./keep_own.ts";
import { readGroupNew } from "./read_new.ts";
import { ackEntries } from "./ack.ts";
import { BatchSizer } from "./sizer.ts";
import { backlogWindow } from "./window.ts";
import { sleep } from "../async/delay.ts";
import type { NewStreamWatch } from "./new_streams.ts";

const NEVER = new AbortController().signal;

/** Settings of a {@link RedisSource}. */
export interface RedisSourceOptions {
  readonly group: string;
  readonly consumer: string;
  readonly batchSize: number;
  /** Most bytes of one batch (BATCH_MAX_BYTES, resolved; none when absent); see {@link BatchSizer}. */
  readonly batchMaxBytes?: number;
  /** MAX_MESSAGE_BYTES: the size assumed of entries not seen yet. */
  readonly maxMessageBytes?: number;
  readonly blockMs: number;
  readonly claimMinIdleMs: number;
  readonly consumerRemoveIdleMs: number;
  readonly discoveryIntervalMs: number;
  /** Starts the watch for new streams (see new_streams.ts); without it, only the periodic scan finds them. */
  readonly watchNewStreams?: () => Promise<NewStreamWatch>;
  readonly log: Logger;
  readonly now?: () => number;
}

/** Reads from every discovered stream through one consumer of the group. */
export class RedisSource implements Source {
  readonly #now: () => number;
  #nextDiscovery = 0;
  #nextClaim = 0;
  readonly #pending: PendingReader;
  readonly #sizer: BatchSizer;
  /** False once this consumer's own pending entries have all been re-read (until the next rescan). */
  #ownLeft = true;
  #blockingId: number | undefined;
  /** Where the next read window starts, when there are more streams than BATCH_SIZE. */
  #window = 0;
  #watch: NewStreamWatch | undefined;
  /** Streams just found: the next read includes them even when the window of streams is elsewhere. */
  #fresh = new Set<string>();
  #closed = false;
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
    const sizer = new BatchSizer({
      batchSize: opts.batchSize,
      maxBytes: opts.batchMaxBytes ?? Infinity,
      maxMessageBytes: opts.maxMessageBytes ?? 65_536,
    });
    this.#sizer = sizer;
    this.#pending = new PendingReader(cmd, {
      group: opts.group,
      consumer: opts.consumer,
      claimMinIdleMs: opts.claimMinIdleMs,
      log: opts.log,
      get batchSize() {
        return sizer.count;
      },
    });
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

  /** How new streams are noticed: `notify`, `poll` or `scan` (undefined before the first read). */
  get newStreamMode(): string | undefined {
    return this.#watch?.mode;
  }

  /** Stops watching for new streams (closes the notification connection). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#watch?.[Symbol.asyncDispose]();
  }

  async #startWatch(): Promise<void> {
    if (this.#watch || !this.opts.watchNewStreams || this.#closed) return;
    const watch = await this.opts.watchNewStreams();
    if (this.#closed) return void (await watch[Symbol.asyncDispose]());
    this.#watch = watch;
    // Twice: an announcement just before a blocking read starts would otherwise wait out BATCH_TIMEOUT_SEC.
    watch.onNew = () => {
      void this.interrupt();
      setTimeout(() => void this.interrupt(), 200);
    };
    this.opts.log.info("watching for new streams", { mode: watch.mode });
  }

  async read(signal: AbortSignal): Promise<Delivery[]> {
    const batch = await this.#read(signal);
    this.#sizer.observe(batch);
    return batch;
  }

  async #read(signal: AbortSignal): Promise<Delivery[]> {
    await this.#startWatch();
    const announced = this.#watch?.take() ?? [];
    if (announced.length > 0) await this.discovery.add(announced);
    const now = this.#now();
    // Asked on every read (not only between scans), so the first count is taken before the first scan.
    const changed = (await this.#watch?.changed()) ?? false;
    if (now >= this.#nextDiscovery || changed) {
      const t0 = this.#now();
      await this.discovery.refresh();
      this.#watch?.scanned(this.#now() - t0);
      this.#nextDiscovery = now + this.opts.discoveryIntervalMs;
    }
    for (const s of this.discovery.takeAdded()) this.#fresh.add(s);
    const streams = this.discovery.streams;
    if (streams.length === 0) {
      // Nothing to block on: wake often enough to take an announced stream (in memory) or to poll.
      // A PING first, so a read that returns nothing has still proven Redis answers (the outage
      // state follows reads).
      await this.cmd.ping();
      const idleMs = this.#watch?.mode === "notify" ? 200 : this.#watch?.maxBlockMs ?? Infinity;
      await sleep(Math.min(this.opts.blockMs, idleMs), signal);
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
    await ackEntries(this.cmd, this.opts.group, entries);
  }

  /**
   * Re-claims `entries` to this consumer (XCLAIM … JUSTID) every third of
   * CLAIM_MIN_IDLE_MS until disposed, so that no other consumer takes over a
   * batch that is slow to write; only a consumer that stopped loses its entries.
   */
  hold(entries: readonly StreamEntry[]): Disposable {
    return keepOwn(this.cmd, this.opts, entries);
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
      this.#backlog = out.length * 2 >= this.#sizer.count;
      if (out.length > 0) return out;
    }
    const out = await this.#readAll(all, signal);
    this.#backlog = out.length * 2 >= this.#sizer.count;
    return out;
  }

  /**
   * One read without BLOCK of a rotating window of streams: `COUNT` 50 (more
   * when there are few streams) from each of up to 40 streams, never more
   * than one batch in total.
   */
  async #readWindow(all: readonly string[]): Promise<Delivery[]> {
    const { streams, count, next } = backlogWindow(all, this.#backlogFrom, this.#sizer.count);
    this.#backlogFrom = next;
    if (this.#clusterReader) return await this.#clusterReader.read(streams, count, this.#sizer.count, 0, NEVER);
    return (await readGroupNew(this.blocking, this.opts, streams, count)).entries;
  }

  /** The blocking read over every stream (a rotating window of BATCH_SIZE streams when there are more). */
  async #readAll(all: readonly string[], signal: AbortSignal): Promise<Delivery[]> {
    // COUNT applies per stream; keep the total within one batch. With more
    // streams than BATCH_SIZE, read a rotating window of BATCH_SIZE streams and
    // block only briefly on each, so every stream is visited soon.
    const batchSize = this.#sizer.count;
    let streams = all;
    let blockMs = Math.min(this.opts.blockMs, this.#watch?.maxBlockMs ?? Infinity);
    if (all.length > batchSize) {
      const from = this.#window % all.length;
      const fresh = [...this.#fresh].slice(0, batchSize);
      const inFresh = new Set(fresh);
      const window = [...all.slice(from), ...all.slice(0, from)].filter((s) => !inFresh.has(s));
      streams = [...fresh, ...window.slice(0, batchSize - fresh.length)];
      this.#window = from + batchSize - fresh.length;
      blockMs = Math.min(blockMs, 100);
    }
    this.#fresh.clear();
    const perStream = Math.max(1, Math.floor(batchSize / streams.length));
    if (this.#clusterReader) {
      return await this.#clusterReader.read(streams, perStream, batchSize, blockMs, signal);
    }
    const { entries: out, full } = await readGroupNew(this.blocking, this.opts, streams, perStream, blockMs);
    // Busy streams may have more: fill the rest of the batch from them, without blocking.
    const room = batchSize - out.length;
    if (full.length > 0 && room >= full.length) {
      out.push(...(await readGroupNew(this.cmd, this.opts, full, Math.floor(room / full.length))).entries);
    }
    return out;
  }
}
