/**
 * Finds the input streams: exact keys from STREAM_PATTERN as given, globs by
 * SCAN (TYPE stream), never the dead-letter stream; creates the consumer
 * group on each new one, from the start of the stream. In a cluster, every
 * master is scanned (SCAN only sees the keys of the node it runs on).
 */
import type { Logger } from "../log.ts";
import { describe, isMissingKeyError, redisErrorCode } from "../errors.ts";
import { masterServers, type RedisClient, whenReady } from "./redis.ts";

/** True when `pattern` has glob characters (otherwise it is an exact key). */
export function isGlob(pattern: string): boolean {
  return /[*?[]/.test(pattern);
}

/** How many stream names the summary line shows. */
const SUMMARY_NAMES = 5;

/** Keeps the set of input streams and their consumer groups up to date. */
export class StreamDiscovery {
  #grouped = new Set<string>();
  #badKeys = new Set<string>();
  #streams: string[] = [];
  #added: string[] = [];
  #scanned = false;

  constructor(
    private readonly redis: RedisClient,
    private readonly opts: {
      patterns: readonly string[];
      group: string;
      deadLetterStream: string;
      log: Logger;
    },
  ) {}

  /** The streams found by the last {@link refresh}, sorted. */
  get streams(): readonly string[] {
    return this.#streams;
  }

  /** The streams that joined {@link streams} since the last call (to read them first). */
  takeAdded(): string[] {
    const added = this.#added;
    this.#added = [];
    return added;
  }

  /** True once a refresh has completed: before that, an empty list means "not looked yet", not "none". */
  get scanned(): boolean {
    return this.#scanned;
  }

  /** Forgets which streams have their group, so the next refresh re-creates missing ones. */
  invalidate(): void {
    this.#grouped.clear();
  }

  /**
   * Adds streams announced as new (already matched against the globs): each
   * that is a stream gets the group and joins {@link streams} without a scan.
   */
  async add(keys: readonly string[]): Promise<void> {
    const known = new Set(this.#streams);
    const added: string[] = [];
    for (const key of keys) {
      if (known.has(key) || key === this.opts.deadLetterStream || !this.#readableKey(key)) continue;
      if ((await this.redis.type(key)) !== "stream") continue;
      if (!(await this.#ensureGroup(key, false))) continue;
      known.add(key);
      added.push(key);
    }
    if (added.length === 0) return;
    this.#streams = [...known].sort();
    this.#summarize(added);
  }

  /** Scans for matching streams and makes sure each has the consumer group. */
  async refresh(): Promise<readonly string[]> {
    await whenReady(this.redis, 2_000);
    const found = new Set<string>();
    const exact = new Set<string>();
    const globs: string[] = [];
    for (const p of this.opts.patterns) {
      if (isGlob(p)) globs.push(p);
      else {
        exact.add(p);
        found.add(p);
      }
    }
    if (globs.length > 0) {
      for (const server of await masterServers(this.redis)) {
        for (const p of globs) {
          let cursor = "0";
          do {
            const [next, keys] = await server.scan(cursor, "MATCH", p, "COUNT", 1000, "TYPE", "stream");
            cursor = next;
            for (const k of keys) if (this.#readableKey(k)) found.add(k);
          } while (cursor !== "0");
        }
      }
    }
    found.delete(this.opts.deadLetterStream);

    const usable: string[] = [];
    const before = new Set(this.#streams);
    for (const key of [...found].sort()) {
      if (!this.#grouped.has(key)) {
        const ok = await this.#ensureGroup(key, exact.has(key));
        if (!ok) continue;
      }
      usable.push(key);
    }
    const gone = this.#streams.filter((s) => !found.has(s));
    for (const s of gone) this.#grouped.delete(s);
    this.#streams = usable;
    this.#summarize(usable.filter((s) => !before.has(s)));
    this.#scanned = true;
    return usable;
  }

  /** One line for the streams just added (a few names, the count); a line per stream at debug. */
  #summarize(added: readonly string[]): void {
    if (added.length === 0) return;
    this.#added.push(...added);
    const shown = added.slice(0, SUMMARY_NAMES);
    this.opts.log.info(added.length === 1 ? "consuming a new stream" : "consuming new streams", {
      count: added.length,
      total: this.#streams.length,
      streams: shown,
      ...(added.length > shown.length ? { more: added.length - shown.length } : {}),
      group: this.opts.group,
    });
  }

  /**
   * A key that is not valid UTF-8 arrives with U+FFFD in place of its bad
   * bytes and names no existing stream: say so once, and leave it alone.
   */
  #readableKey(key: string): boolean {
    if (!key.includes("\uFFFD")) return true;
    if (!this.#badKeys.has(key)) {
      this.opts.log.error("cannot consume stream: its key is not valid UTF-8 (rename it)", { stream: key });
      this.#badKeys.add(key);
    }
    return false;
  }

  async #ensureGroup(key: string, create: boolean): Promise<boolean> {
    try {
      if (create) await this.redis.xgroup("CREATE", key, this.opts.group, "0", "MKSTREAM");
      else await this.redis.xgroup("CREATE", key, this.opts.group, "0");
      this.opts.log.debug("consuming stream", { stream: key, group: this.opts.group });
    } catch (err) {
      const code = redisErrorCode(err);
      if (code === "BUSYGROUP") {
        this.opts.log.debug("consuming stream", { stream: key, group: this.opts.group, group_existed: true });
      } else if (code === "WRONGTYPE" || isMissingKeyError(err)) {
        if (!this.#badKeys.has(key)) {
          this.opts.log.error("cannot consume key: it is not a stream", { stream: key, error: describe(err) });
          this.#badKeys.add(key);
        }
        return false;
      } else {
        throw err;
      }
    }
    this.#badKeys.delete(key);
    this.#grouped.add(key);
    return true;
  }
}
