/**
 * Notices new stream keys within about a second, so that a new sensor's first
 * reading does not wait for the next discovery scan. Two ways, chosen at start:
 *
 * - `notify`: Redis's new-key notifications (`notify-keyspace-events` with `E`
 *   and `n`, Redis 7+), one message per key created, on a subscriber
 *   connection of its own; the key is checked against STREAM_PATTERN here.
 * - `poll`: where notifications are off (and NEW_STREAM_NOTIFY is not
 *   `enable`), or in a cluster: DBSIZE (O(1)) every second, and a scan when
 *   it changed, at most every ten times the last scan's duration.
 *
 * Either way the periodic scan (DISCOVERY_INTERVAL_SEC) stays the safety net:
 * a notification missed while reconnecting is found there.
 */
import type { Logger } from "../log.ts";
import { classify, describe } from "../errors.ts";
import { isCluster, masterServers, openRedis, type RedisClient, type RedisSettings } from "./redis.ts";

/** How new streams are noticed; `scan` means only by DISCOVERY_INTERVAL_SEC. */
export type NewStreamMode = "notify" | "poll" | "scan";

/** How often the `poll` mode asks DBSIZE. */
export const POLL_MS = 1000;

/** The flags `notify-keyspace-events` needs for new-key events. */
export function hasNewKeyEvents(flags: string): boolean {
  return flags.includes("E") && flags.includes("n");
}

/** A Redis glob (`*`, `?`, `[a-z]`, `[^x]`, `\` escapes) as a RegExp matching whole keys. */
export function globToRegExp(glob: string): RegExp {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") out += "[\\s\\S]*";
    else if (c === "?") out += "[\\s\\S]";
    else if (c === "\\" && i + 1 < glob.length) out += escape(glob[++i]!);
    else if (c === "[") {
      const end = glob.indexOf("]", i + 2);
      if (end < 0) {
        out += "\\[";
        continue;
      }
      let body = glob.slice(i + 1, end);
      const negate = body.startsWith("^");
      if (negate) body = body.slice(1);
      const parts = body.replace(/\\(.)/g, "$1").split("").map((ch) => (ch === "-" ? "-" : escape(ch)));
      out += `[${negate ? "^" : ""}${parts.join("")}]`;
      i = end;
    } else out += escape(c);
  }
  return new RegExp(`^${out}$`);
}

function escape(c: string): string {
  return /[\\^$.*+?()[\]{}|/-]/.test(c) ? `\\${c}` : c;
}

/** Watches for new stream keys; the source asks it what to do before each read. */
export class NewStreamWatch implements AsyncDisposable {
  #announced = new Set<string>();
  #subscriber: (RedisClient & AsyncDisposable) | undefined;
  #lastSize: number | undefined;
  #changeSeen = false;
  #nextPoll = 0;
  #earliestScan = 0;
  #onNew: () => void = () => {};

  private constructor(
    readonly mode: NewStreamMode,
    private readonly redis: RedisClient,
    private readonly now: () => number,
  ) {}

  /**
   * Chooses the mode (see the module) and, for `notify`, subscribes.
   * `setting` is NEW_STREAM_NOTIFY; `globs` the glob patterns of STREAM_PATTERN.
   */
  static async start(redis: RedisClient, opts: {
    readonly setting: "auto" | "enable" | "off";
    readonly settings: RedisSettings;
    readonly name: string;
    readonly globs: readonly string[];
    readonly log: Logger;
    readonly now?: () => number;
  }): Promise<NewStreamWatch> {
    const now = opts.now ?? Date.now;
    if (opts.setting === "off" || opts.globs.length === 0) return new NewStreamWatch("scan", redis, now);
    if (isCluster(redis)) return new NewStreamWatch("poll", redis, now);
    let flags: string;
    try {
      const reply = (await redis.config("GET", "notify-keyspace-events")) as string[];
      flags = reply[1] ?? "";
    } catch (err) {
      if (classify(err) === "transient") throw err;
      opts.log.debug("cannot read notify-keyspace-events; checking DBSIZE for new streams", { error: describe(err) });
      return new NewStreamWatch("poll", redis, now);
    }
    if (!hasNewKeyEvents(flags) && opts.setting === "enable") {
      const wanted = `${flags}${flags.includes("E") ? "" : "E"}${flags.includes("n") ? "" : "n"}`;
      try {
        await redis.config("SET", "notify-keyspace-events", wanted);
        opts.log.info("notify-keyspace-events set for new-stream notifications (NEW_STREAM_NOTIFY=enable)", {
          was: flags,
          now: wanted,
        });
        flags = wanted;
      } catch (err) {
        opts.log.warn("cannot set notify-keyspace-events; checking DBSIZE for new streams", { error: describe(err) });
      }
    }
    if (!hasNewKeyEvents(flags)) return new NewStreamWatch("poll", redis, now);
    const watch = new NewStreamWatch("notify", redis, now);
    const patterns = opts.globs.map(globToRegExp);
    const subscriber = openRedis(opts.settings, { name: opts.name, onError: () => {} });
    watch.#subscriber = subscriber;
    subscriber.on("message", (_channel: string, key: string) => {
      if (!patterns.some((p) => p.test(key))) return;
      watch.#announced.add(key);
      watch.#onNew();
    });
    try {
      await subscriber.subscribe(`__keyevent@${opts.settings.db}__:new`);
    } catch (err) {
      await subscriber[Symbol.asyncDispose]();
      opts.log.debug("cannot subscribe to new-key events; checking DBSIZE for new streams", { error: describe(err) });
      return new NewStreamWatch("poll", redis, now);
    }
    return watch;
  }

  /** Called (from the subscription) when a matching key was announced: wakes the reader. */
  set onNew(fn: () => void) {
    this.#onNew = fn;
  }

  /** The longest a blocking read may wait so that a new stream is seen within about a second. */
  get maxBlockMs(): number {
    return this.mode === "poll" ? POLL_MS : Infinity;
  }

  /** Matching keys announced since the last call. */
  take(): string[] {
    if (this.#announced.size === 0) return [];
    const keys = [...this.#announced];
    this.#announced.clear();
    return keys;
  }

  /**
   * In `poll` mode: true when the number of keys changed since an earlier
   * look and a scan may run now. The count is taken at most once per poll
   * interval whatever the scan limit says, so that a change made while
   * scans were held back is remembered, not taken as the new baseline.
   */
  async changed(): Promise<boolean> {
    if (this.mode !== "poll") return false;
    const now = this.now();
    if (now >= this.#nextPoll) {
      this.#nextPoll = now + POLL_MS;
      let size = 0;
      for (const server of await masterServers(this.redis)) size += await server.dbsize();
      if (this.#lastSize !== undefined && size !== this.#lastSize) this.#changeSeen = true;
      this.#lastSize = size;
    }
    if (!this.#changeSeen || now < this.#earliestScan) return false;
    this.#changeSeen = false;
    return true;
  }

  /** Records a scan's duration: the next change-driven scan waits ten times as long (at least). */
  scanned(durationMs: number): void {
    this.#earliestScan = this.now() + 10 * durationMs;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#subscriber?.[Symbol.asyncDispose]();
  }
}
