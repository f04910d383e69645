/**
 * Keeping a batch's entries this consumer's while it is written: they are
 * re-claimed to it (XCLAIM … JUSTID, only those still its own, which resets
 * their idle time) every third of CLAIM_MIN_IDLE_MS, so that no other
 * consumer takes over a batch that is slow to write; only a consumer that
 * stopped loses its entries.
 */
import type { StreamEntry } from "../ports.ts";
import type { Logger } from "../log.ts";
import type { RedisClient } from "./redis.ts";
import { KEEP_OWN } from "./scripts.ts";
import { idsByStream } from "./ack.ts";

/** Who keeps the entries, and how often. */
export interface KeepOwnOptions {
  readonly group: string;
  readonly consumer: string;
  readonly claimMinIdleMs: number;
  readonly log: Logger;
}

/** Re-claims `entries` periodically until disposed. */
export function keepOwn(redis: RedisClient, opts: KeepOwnOptions, entries: readonly StreamEntry[]): Disposable {
  const byStream = idsByStream(entries);
  const keep = () => {
    for (const [stream, ids] of byStream) {
      redis.eval(KEEP_OWN, 1, stream, opts.group, opts.consumer, ...ids).catch((err) =>
        opts.log.debug("keeping in-flight entries fresh failed", { stream, error: String(err) })
      );
    }
  };
  const timer = setInterval(keep, Math.max(50, Math.floor(opts.claimMinIdleMs / 3)));
  // Never what keeps the process alive: a batch that is never finished (an unexpected error) lets it exit.
  Deno.unrefTimer(timer);
  return { [Symbol.dispose]: () => clearInterval(timer) };
}
