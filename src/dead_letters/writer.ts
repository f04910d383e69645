/**
 * Dead letters: a rejected entry goes to the dead-letter stream with the
 * reason and every original field, and is acknowledged in the same atomic
 * step (a Lua script). The dead letter is added first and the entry acked
 * only once that succeeded: Redis does not roll a script back when a later
 * command fails, so a failed add (a dead-letter key of the wrong type, say)
 * leaves the entry pending, never acked and lost.
 *
 * Each entry dead-lettered is also marked in a sorted set (see
 * {@link markerKey}): an entry read again (its group deleted and re-created
 * from `0`, which re-reads the whole stream) that is already marked is only
 * acknowledged, not dead-lettered twice. The markers are trimmed with the
 * dead-letter stream (DEAD_LETTER_MAXLEN keeps as many of each).
 *
 * In a Redis Cluster the entry and the dead letter usually live in different
 * slots, where no script can reach both: there the dead letter (with its
 * marker, in the dead-letter key's slot) is added first and the entry
 * acknowledged after, so a crash in between is repaired by the marker.
 */
import type { DeadLetter, DeadLetterSink } from "../ports.ts";
import { isCluster, type RedisClient } from "../source/redis.ts";
import { deadLetterFields } from "./format.ts";
import { redisErrorCode } from "../errors.ts";
import { keySlot } from "../source/slot.ts";

/**
 * The sorted set marking entries already dead-lettered (members `<id> <stream>`,
 * scored by the time in ms), in the dead-letter stream's cluster slot: the
 * stream's own hash tag if it has one, otherwise the whole name as the tag.
 */
export function markerKey(deadLetterStream: string): string {
  const open = deadLetterStream.indexOf("{");
  const close = open >= 0 ? deadLetterStream.indexOf("}", open + 1) : -1;
  const tagged = open >= 0 && close > open + 1;
  return tagged ? `${deadLetterStream}:dead-lettered` : `{${deadLetterStream}}:dead-lettered`;
}

/** The marker of one entry (an id never holds a space). */
export function markerMember(entry: { stream: string; id: string }): string {
  return `${entry.id} ${entry.stream}`;
}

// Adds the dead letter and its marker, then trims the markers like the stream.
// Returns 1 when added, 2 when the entry was marked already (nothing added).
const ADD_MARKED = `
if redis.call('ZSCORE', KEYS[2], ARGV[2]) then return 2 end
local maxlen = tonumber(ARGV[1])
if maxlen > 0 then
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', unpack(ARGV, 4))
else
  redis.call('XADD', KEYS[1], '*', unpack(ARGV, 4))
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
if maxlen > 0 and redis.call('ZCARD', KEYS[2]) > maxlen then
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -maxlen - 1)
end
return 1`;

// KEYS: the entry's stream, the dead-letter stream, the markers. ARGV: the
// group, the entry's id, then ADD_MARKED's ARGV. Only an entry still pending
// for the group is dead-lettered, so two consumers racing over one entry
// (after a claim) write one dead letter; a marked one is only acknowledged.
// Returns 1 (added), 2 (marked already: acked only) or 0 (not pending).
const ADD_THEN_ACK = `
local ok, p = pcall(redis.call, 'XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if not ok or #p == 0 then return 0 end
local function add(KEYS, ARGV)
${ADD_MARKED}
end
local added = add({KEYS[2], KEYS[3]}, {unpack(ARGV, 3)})
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return added`;

/** A dead letter could not be written; its entry stays pending. The message names the key. */
export class DeadLetterWriteError extends Error {
  override name = "DeadLetterWriteError";
  constructor(readonly key: string, cause: unknown) {
    const code = redisErrorCode(cause);
    const text = (cause instanceof Error ? cause.message : String(cause)).replace(/ script: .*$/s, "");
    const hint = code === "WRONGTYPE"
      ? ` (${key} must be a stream and ${markerKey(key)} a sorted set: rename or delete the one that is not)`
      : "";
    super(`cannot write to the dead-letter stream "${key}": ${text}${hint}`, { cause });
  }
}

/** Writes dead letters and acknowledges their entries. */
export class DeadLetterWriter implements DeadLetterSink {
  readonly #marks: string;
  /**
   * False only for a dead-letter stream whose name holds a `}` but no hash tag
   * (`a{}b`, `x}y`), for which no other key shares its cluster slot: there, in
   * a cluster, dead letters go without markers (as before they existed).
   */
  readonly #marksInSlot: boolean;

  constructor(
    private readonly redis: RedisClient,
    private readonly opts: { stream: string; group: string; maxLen: number; now?: () => number },
  ) {
    this.#marks = markerKey(opts.stream);
    this.#marksInSlot = keySlot(this.#marks) === keySlot(opts.stream);
  }

  /**
   * Dead-letters each letter and acks its entry atomically; returns, per
   * letter, whether it was new (false: its entry was no longer pending, or was
   * dead-lettered before and only needed its ack). Throws a
   * {@link DeadLetterWriteError} when a dead letter cannot be added: that
   * letter's entry is then left pending (the others may be done).
   */
  async send(letters: readonly DeadLetter[]): Promise<boolean[]> {
    if (letters.length === 0) return [];
    const now = (this.opts.now ?? Date.now)();
    if (isCluster(this.redis)) return await this.#sendAcrossSlots(letters, now);
    const pipe = this.redis.pipeline();
    for (const letter of letters) {
      pipe.eval(
        ADD_THEN_ACK,
        3,
        letter.entry.stream,
        this.opts.stream,
        this.#marks,
        this.opts.group,
        letter.entry.id,
        String(this.opts.maxLen),
        markerMember(letter.entry),
        String(now),
        ...deadLetterFields(letter, now),
      );
    }
    const results = (await pipe.exec()) ?? [];
    const failed = results.find(([err]) => err);
    if (failed) throw this.#failure(failed[0]);
    return results.map(([, value]) => Number(value) === 1);
  }

  #failure(err: unknown): unknown {
    const code = redisErrorCode(err);
    // A reply error from the script is about the keys; anything else (a lost connection) is passed on as is.
    return code === undefined ? err : new DeadLetterWriteError(this.opts.stream, err);
  }

  /**
   * Cluster mode: skip entries no longer pending (another consumer dealt
   * with them), then for each entry add its dead letter with its marker
   * (skipped when marked already), then XACK it.
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
    // Each entry is acked right after its own dead letter: when another add
    // fails and the batch is retried, the ones done are no longer pending
    // and are skipped above, instead of being dead-lettered twice.
    const added = await Promise.all(
      letters.map(async (letter, i) => {
        if (!pending[i]) return false;
        const fields = deadLetterFields(letter, now);
        const added = this.#marksInSlot
          ? cluster.eval(
            ADD_MARKED,
            2,
            stream,
            this.#marks,
            String(maxLen),
            markerMember(letter.entry),
            String(now),
            ...fields,
          )
          : cluster.xadd(stream, ...(maxLen > 0 ? ["MAXLEN", "~", maxLen] as const : []), "*", ...fields).then(() => 1);
        const result = await (added as Promise<unknown>).catch((err) => Promise.reject(this.#failure(err)));
        await cluster.xack(letter.entry.stream, group, letter.entry.id);
        return Number(result) === 1;
      }),
    );
    return added;
  }
}
