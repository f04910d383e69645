/**
 * The Redis side of the pipeline: reads a batch (own pending first, then
 * entries other consumers left idle, then new ones), acknowledges, and keeps
 * the consumer group tidy. Never holds more than BATCH_SIZE entries per read.
 * Against a Redis Cluster, new entries come through a {@link ClusterReader}
 * (one read per slot, no blocking) and acknowledgements go per stream.
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
import { KEEP_OWN } from "./scripts.ts";
import { ackEntries } from "./ack.ts";
import { BatchSizer } from "./sizer.ts";
import { sleep } from "../async/delay.ts";
import type { NewStreamWatch } from "./new_streams.ts";

type XReply = [stream: string, entries: XEntry[]][] | null;

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
    const byStream = new Map<string, string[]>();
    for (const e of entries) {
      const ids = byStream.get(e.stream);
      if (ids) ids.push(e.id);
      else byStream.set(e.stream, [e.id]);
    }
    const keep = () => {
      for (const [stream, ids] of byStream) {
        this.cmd.eval(KEEP_OWN, 1, stream, this.opts.group, this.opts.consumer, ...ids).catch((err) =>
          this.opts.log.debug("keeping in-flight entries fresh failed", { stream, error: String(err) })
        );
      }
    };
    const timer = setInterval(keep, Math.max(50, Math.floor(this.opts.claimMinIdleMs / 3)));
    // Never what keeps the process alive: a batch that is never finished (an unexpected error) lets it exit.
    Deno.unrefTimer(timer);
    return { [Symbol.dispose]: () => clearInterval(timer) };
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
    const room = batchSize - out.length;
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
