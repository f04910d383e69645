/**
 * Readiness, one source of truth for `/readyz`, `/metrics` (`ready`,
 * `redis_up`, `database_up`) and `health`: the loop's own view (running, no
 * batch in hand longer than the stall bound, neither dependency in an outage
 * it met) and one ping of each dependency per second at most, on
 * connections of their own, so that no rate of requests reaches the writers.
 */
import type { Outage } from "./outage.ts";
import { succeedsWithin } from "../async/deadline.ts";

/** The state every endpoint reports. */
export interface ReadinessState {
  readonly running: boolean;
  readonly redis: boolean;
  readonly database: boolean;
  /** A batch has been in hand longer than the stall bound. */
  readonly stalled: boolean;
  /** running, both up, not stalled. */
  readonly ready: boolean;
}

/** What readiness is computed from, passed in. */
export interface ReadinessDeps {
  readonly running: () => boolean;
  /** Milliseconds the oldest batch in hand has been in hand (0 when none). */
  readonly oldestBatchMs: () => number;
  /** A batch in hand longer than this is a stall. */
  readonly stallMs: number;
  readonly redisOutage: Outage;
  readonly dbOutage: Outage;
  /** Pings on connections of their own; each resolves true/false and never rejects. */
  readonly pingRedis: () => Promise<boolean>;
  readonly pingDatabase: () => Promise<boolean>;
  /** How long a ping's answer is reused (1 s). */
  readonly cacheMs?: number;
  readonly now?: () => number;
}

/** A ping that is reused for `cacheMs` and never runs twice at once. */
class CachedPing {
  #value = false;
  #at = -Infinity;
  #running: Promise<boolean> | undefined;
  /** Pings started so far (for tests and the docs' claim). */
  count = 0;

  constructor(private readonly ping: () => Promise<boolean>, private readonly cacheMs: number) {}

  /** The cached answer while fresh; else the answer of the ping in flight or of a new one. */
  get(now: number): Promise<boolean> {
    if (now - this.#at < this.cacheMs) return Promise.resolve(this.#value);
    if (this.#running) return this.#running;
    this.count++;
    this.#running = this.ping().catch(() => false).then((ok) => {
      this.#value = ok;
      this.#at = now;
      this.#running = undefined;
      return ok;
    });
    return this.#running;
  }
}

/** Computes {@link ReadinessState}. */
export class Readiness {
  readonly #redis: CachedPing;
  readonly #database: CachedPing;

  constructor(private readonly deps: ReadinessDeps) {
    this.#redis = new CachedPing(deps.pingRedis, deps.cacheMs ?? 1000);
    this.#database = new CachedPing(deps.pingDatabase, deps.cacheMs ?? 1000);
  }

  /** Pings started so far, per dependency. */
  get pings(): { redis: number; database: number } {
    return { redis: this.#redis.count, database: this.#database.count };
  }

  /** The current state (at most one ping per dependency per second). */
  async check(): Promise<ReadinessState> {
    const now = (this.deps.now ?? Date.now)();
    const [redisPing, databasePing] = await Promise.all([this.#redis.get(now), this.#database.get(now)]);
    const running = this.deps.running();
    const redis = redisPing && !this.deps.redisOutage.down;
    const database = databasePing && !this.deps.dbOutage.down;
    const stalled = this.deps.oldestBatchMs() > this.deps.stallMs;
    return { running, redis, database, stalled, ready: running && redis && database && !stalled };
  }
}

/**
 * A ping that never queues behind itself: while the previous query has not
 * answered (a frozen server), the dependency is down and no new query is sent.
 */
export function boundedPing(query: () => Promise<unknown>, timeoutMs: number): () => Promise<boolean> {
  let open: Promise<unknown> | undefined;
  return () => {
    if (open) return Promise.resolve(false);
    const q: Promise<unknown> = query().finally(() => {
      if (open === q) open = undefined;
    });
    open = q;
    return succeedsWithin(q, timeoutMs);
  };
}
