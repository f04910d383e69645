/**
 * `db-writer dlq purge`: delete every dead letter, those older than a time,
 * or given ones; asks for confirmation unless `--yes`.
 */
import { UsageError } from "../../errors.ts";
import { printError, printLine } from "../../log.ts";
import type { RedisClient } from "../../source/redis.ts";
import { idFlags, parseFlags } from "../args.ts";
import { markerKey } from "../../dead_letters/writer.ts";

/** Asks a yes/no question; undefined when nobody can answer (stdin is not a terminal). */
export type Confirm = (question: string) => boolean | undefined;

/** The terminal prompt: only a typed `y` or `yes` agrees. */
export const terminalConfirm: Confirm = (question) => {
  if (!Deno.stdin.isTerminal()) return undefined;
  const answer = prompt(`${question} [y/N]`);
  return /^y(es)?$/i.test(answer?.trim() ?? "");
};

const AGE_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * The cut-off of `--before`, in Unix ms: an ISO 8601 date or date-time (UTC
 * when it has no offset), or an age like `7d`, `12h`, `30m` (that long before `now`).
 * @throws {UsageError} for anything else.
 */
export function parseBefore(raw: string, now: number): number {
  const s = raw.trim();
  const age = /^(\d{1,9})\s*([smhdw])$/i.exec(s);
  if (age) return now - Number(age[1]) * AGE_UNITS[age[2]!.toLowerCase()]!;
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}:?\d{2})?$/i.test(s)) {
    const hasOffset = /(Z|[+-]\d{2}:?\d{2})$/i.test(s) && s.length > 10;
    const iso = s.replace(" ", "T") + (hasOffset ? "" : s.length === 10 ? "T00:00:00Z" : "Z");
    const ms = Date.parse(iso);
    if (Number.isFinite(ms)) return ms;
  }
  throw new UsageError(
    `dlq purge: --before must be a date-time like 2026-11-28T10:00:00Z or 2026-11-28, or an age like 7d, 12h, 30m; got ${
      JSON.stringify(raw)
    }`,
  );
}

/** Counts entries with ids below `ms` (paged, so a long stream is not read at once). */
async function countBefore(redis: RedisClient, stream: string, ms: number): Promise<number> {
  if (ms <= 0) return 0;
  let n = 0, start = "-";
  while (true) {
    const page = await redis.xrange(stream, start, String(ms - 1), "COUNT", 10_000);
    n += page.length;
    if (page.length < 10_000) return n;
    start = `(${page[page.length - 1]![0]}`;
  }
}

/** Parses purge's flags; returns the action to run against the dead-letter stream. */
export function parsePurge(
  args: readonly string[],
  opts: { confirm?: Confirm; now?: () => number } = {},
): (redis: RedisClient, stream: string) => Promise<number> {
  const v = parseFlags("dlq purge", args, {
    all: { type: "boolean" },
    before: { type: "string" },
    id: { type: "string", multiple: true },
    yes: { type: "boolean", short: "y" },
  });
  const wanted = idFlags("dlq purge", v.id);
  const chosen = [v.all === true, v.before !== undefined, wanted.length > 0].filter(Boolean).length;
  if (chosen === 0) {
    throw new UsageError(
      "dlq purge: say what to delete: --all (every dead letter), --before TIME (older ones) or --id ID (repeatable)",
    );
  }
  if (chosen > 1) throw new UsageError("dlq purge: give only one of --all, --before TIME and --id ID...");
  const before = v.before === undefined ? undefined : parseBefore(v.before, (opts.now ?? Date.now)());
  const confirm = opts.confirm ?? terminalConfirm;

  return async (redis, stream) => {
    if (v.yes !== true) {
      // Counted only to ask: with --yes, nothing reads the letters first.
      const what = v.all === true
        ? { count: await redis.xlen(stream), text: "every dead letter" }
        : before !== undefined
        ? {
          count: await countBefore(redis, stream, before),
          text: `dead letters from before ${new Date(before).toISOString()}`,
        }
        : { count: wanted.length, text: `${wanted.length} given dead letter(s)` };
      const question = `Delete ${what.text} (${what.count}) from ${stream}?`;
      const answer = confirm(question);
      if (answer === undefined) {
        throw new UsageError(
          `dlq purge: not on a terminal, so cannot ask: add --yes to delete ${what.text} (${what.count}) from ${stream}`,
        );
      }
      if (!answer) {
        printError("dlq purge: nothing deleted");
        return 1;
      }
    }
    if (v.all === true) {
      // XTRIM counts exactly what it removes and keeps the key and its last id.
      printLine(`purged ${await redis.xtrim(stream, "MAXLEN", 0)}`);
      // The markers of what was dead-lettered go with the letters (they are scored by when it was).
      await redis.del(markerKey(stream));
      return 0;
    }
    if (before !== undefined) {
      // Entry ids start with the time the letter was written: MINID drops every older one.
      printLine(`purged ${await redis.xtrim(stream, "MINID", before)}`);
      await redis.zremrangebyscore(markerKey(stream), "-inf", `(${before}`);
      return 0;
    }
    const pipe = redis.pipeline();
    for (const id of wanted) pipe.xdel(stream, id);
    const results = (await pipe.exec()) ?? [];
    let purged = 0, missing = 0;
    wanted.forEach((id, i) => {
      const [err, n] = results[i] ?? [new Error("no reply")];
      if (err) throw err;
      if (Number(n) === 1) purged++;
      else {
        printError(`dlq purge: no such dead letter ${id} in ${stream}`);
        missing++;
      }
    });
    printLine(`purged ${purged}`);
    return missing === 0 ? 0 : 1;
  };
}
