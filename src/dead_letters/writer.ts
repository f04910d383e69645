/**
 * Dead letters: a rejected entry goes to the dead-letter stream with the
 * reason and every original field, and is acknowledged in the same atomic
 * step (a Lua script), so a crash can neither lose it nor send it twice.
 * In a Redis Cluster the two keys usually live in different slots, where no
 * script can reach both: there the dead letter is added first and the entry
 * acknowledged after, so a crash in between duplicates a dead letter but
 * never loses an entry.
 */
import type { DeadLetter, DeadLetterSink } from "../ports.ts";
import { isCluster, type RedisClient } from "../source/redis.ts";
import { deadLetterFields } from "./format.ts";
import { redisErrorCode } from "../errors.ts";

// XACK first: only an entry still pending for the group is dead-lettered, so
// two consumers racing over one entry (after a claim) write one dead letter.
const ACK_THEN_ADD = `
local acked = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if acked == 0 then return 0 end
local maxlen = tonumber(ARGV[3])
if maxlen > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', maxlen, '*', unpack(ARGV, 4))
else
  redis.call('XADD', KEYS[2], '*', unpack(ARGV, 4))
end
return 1`;

/** Writes dead letters and acknowledges their entries. */
export class DeadLetterWriter implements DeadLetterSink {
  constructor(
    private readonly redis: RedisClient,
    private readonly opts: { stream: string; group: string; maxLen: number; now?: () => number },
  ) {}

  /**
   * Dead-letters each letter and acks its entry atomically; returns, per
   * letter, whether it was new (false: its entry was no longer pending).
   */
  async send(letters: readonly DeadLetter[]): Promise<boolean[]> {
    if (letters.length === 0) return [];
    const now = (this.opts.now ?? Date.now)();
    if (isCluster(this.redis)) return await this.#sendAcrossSlots(letters, now);
    const pipe = this.redis.pipeline();
    for (const letter of letters) {
      pipe.eval(
        ACK_THEN_ADD,
        2,
        letter.entry.stream,
        this.opts.stream,
        this.opts.group,
        letter.entry.id,
        String(this.opts.maxLen),
        ...deadLetterFields(letter, now),
      );
    }
    const results = (await pipe.exec()) ?? [];
    return results.map(([err, value]) => {
      if (err) throw err;
      return Number(value) === 1;
    });
  }

  /**
   * Cluster mode: skip entries no longer pending (another consumer dealt
   * with them), then for each entry XADD its dead letter, then XACK it.
   */
  async #sendAcrossSlots(letters: readonly DeadLetter[], now: number): Promise<boolean[]> {
    const { group, stream, maxLen } = this.opts;
    const cluster = this.redis;
    const pending = await Promise.all(
      letters.map(({ entry }) =>
        (cluster.xpending(entry.stream, group, entry.id, entry.id, 1) as Promise<unknown[]>).then(
          (p) => p.length > 0,
          // The stream or its group was deleted meanwhile: nothing is pending (as XACK answers 0 on one server).
          (err: Error) => redisErrorCode(err) === "NOGROUP" ? false : Promise.reject(err),
        )
      ),
    );
    const due = letters.filter((_, i) => pending[i]);
    const trim = maxLen > 0 ? ["MAXLEN", "~", maxLen] as const : [];
    // Each entry is acked right after its own dead letter: when another XADD
    // fails and the batch is retried, the ones done are no longer pending
    // and are skipped above, instead of being dead-lettered twice.
    await Promise.all(
      due.map((letter) =>
        cluster.xadd(stream, ...trim, "*", ...deadLetterFields(letter, now))
          .then(() => cluster.xack(letter.entry.stream, group, letter.entry.id))
      ),
    );
    return pending;
  }
}
