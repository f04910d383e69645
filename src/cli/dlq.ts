/**
 * `db-writer dlq list | replay | purge`: inspect dead letters, put them back
 * on their original streams, or delete them.
 */
import type { Config } from "../config.ts";
import { describe, UsageError } from "../errors.ts";
import { printError, printLine } from "../log.ts";
import { fieldsToObject, isCluster, type RedisClient } from "../source/redis.ts";
import { originalFields } from "../source/dead_letter.ts";
import { idFlags, intFlag, parseFlags } from "./args.ts";
import { withRedis } from "./with_redis.ts";
import { parsePurge } from "./dlq_purge.ts";

/** Help text of `db-writer dlq`. */
export const DLQ_USAGE = `Usage:
  db-writer dlq list [--limit N] [--json]
      Show the oldest N dead letters (default 100), one per line: id, when it
      failed, original stream and id, the error, the original fields.
      --json prints one JSON object per line instead:
      {"id", "original_stream", "original_id", "error", "failed_at", "fields"}.
      (--count N is an alias of --limit N.)
  db-writer dlq replay [--id ID... | --all | --limit N] [--dry-run]
      Add each dead letter's original fields as a new entry on its original
      stream; the dead letter is deleted only once that succeeded (one atomic
      step per entry; in a Redis Cluster two steps, see the README). --all
      (the default) takes every dead letter present when the command starts;
      --id (repeatable) picks entries; --limit N the oldest N.
      --dry-run only prints what would be replayed. Ends with a summary line
      "replayed N, skipped M"; exit 1 if any is skipped.
  db-writer dlq purge (--all | --before TIME | --id ID...) [--yes]
      Delete every dead letter, those dead-lettered before TIME (a date-time
      like 2026-11-28T10:00:00Z, a date, or an age like 7d, 12h, 30m), or the
      given ones. Asks for confirmation on a terminal; --yes (-y) skips the
      question, and is required when not on a terminal.

The dead-letter stream is DEAD_LETTER_STREAM (default mqtt_stream:failed).

Examples:
  db-writer dlq list --limit 10
  db-writer dlq replay --dry-run             # what would go back, changes nothing
  db-writer dlq replay --id 1764324000000-0 --id 1764324000000-1
  db-writer dlq purge --all`;

/** Dead letters read per XRANGE while replaying. */
const PAGE = 1000;

type Entry = [id: string, fields: string[]];

/** Runs a dlq subcommand; resolves with the exit code. */
export async function runDlq(config: Config, args: readonly string[]): Promise<number> {
  const [action, ...rest] = args;
  if (action === "-h" || action === "help" || rest.includes("-h")) {
    printLine(DLQ_USAGE);
    return 0;
  }
  if (action !== "list" && action !== "replay" && action !== "purge") {
    throw new UsageError(
      `dlq: ${
        action === undefined ? "missing subcommand" : `unknown subcommand ${JSON.stringify(action)}`
      }; expected list, replay or purge (db-writer dlq -h for details)`,
    );
  }
  const run = action === "list" ? parseList(rest) : action === "replay" ? parseReplay(rest) : parsePurge(rest);
  return await withRedis(config.redis, `db-writer:dlq-${action}`, (redis) => run(redis, config.deadLetterStream));
}

type Action = (redis: RedisClient, stream: string) => Promise<number>;

/** `--limit N`, or its older spelling `--count N` (not both). */
function limitFlag(command: string, v: { limit?: string; count?: string }, fallback: number): number {
  if (v.limit !== undefined && v.count !== undefined) {
    throw new UsageError(`${command}: --count is an alias of --limit; give one of them`);
  }
  return v.limit !== undefined
    ? intFlag(command, "limit", v.limit, fallback, 1)
    : intFlag(command, "count", v.count, fallback, 1);
}

function parseList(args: readonly string[]): Action {
  const v = parseFlags("dlq list", args, {
    limit: { type: "string" },
    count: { type: "string" },
    json: { type: "boolean" },
  });
  const count = limitFlag("dlq list", v, 100);
  return async (redis, stream) => {
    const entries = await redis.xrange(stream, "-", "+", "COUNT", count) as Entry[];
    for (const [id, flat] of entries) {
      const letter = describeLetter(id, fieldsToObject(flat));
      printLine(v.json === true ? JSON.stringify(letter) : readable(letter));
    }
    const total = await redis.xlen(stream);
    printError(`${entries.length} of ${total} dead letter(s) in ${stream} shown`);
    return 0;
  };
}

/** The JSON view of one dead letter (what `dlq list` prints). */
function describeLetter(id: string, dead: Record<string, string>): Record<string, unknown> {
  const failedAt = dead.failed_at === undefined ? null : Number(dead.failed_at);
  return {
    id,
    original_stream: dead.original_stream ?? null,
    original_id: dead.original_id ?? null,
    error: dead.error ?? null,
    failed_at: failedAt === null || Number.isFinite(failedAt) ? failedAt : dead.failed_at,
    fields: originalFields(dead),
  };
}

/** One line of `dlq list` for a person: id, time, where from, why, what. */
function readable(l: ReturnType<typeof describeLetter>): string {
  const at = typeof l.failed_at === "number" ? new Date(l.failed_at * 1000).toISOString() : String(l.failed_at);
  return `${l.id}  ${at}  ${l.original_stream ?? "?"} ${l.original_id ?? "?"}  error: ${l.error ?? "?"}  fields: ${
    JSON.stringify(l.fields)
  }`;
}

// One atomic script per entry: re-add first, delete only after that
// succeeded (an XADD error aborts the script before the XDEL). Checking that
// the letter is still there inside the same script means two replays racing
// over one entry cannot both re-add it.
const ADD_THEN_DELETE = `
if #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1]) == 0 then return false end
local id = redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))
redis.call('XDEL', KEYS[1], ARGV[1])
return id`;

type Replay = { id: string; target: string; fields: string[] };
type Outcome = [Error | null, unknown];

async function replayAtomically(redis: RedisClient, stream: string, plan: readonly Replay[]): Promise<Outcome[]> {
  const pipe = redis.pipeline();
  for (const p of plan) pipe.eval(ADD_THEN_DELETE, 2, stream, p.target, p.id, ...p.fields);
  return (await pipe.exec()) ?? [];
}

// In a Redis Cluster the two streams usually live in different slots, out of
// reach of one script: add first, then delete, so a crash in between (or two
// replays racing) can duplicate a replayed entry but never lose a dead letter.
function replayAcrossSlots(redis: RedisClient, stream: string, plan: readonly Replay[]): Promise<Outcome[]> {
  return Promise.all(plan.map(async (p): Promise<Outcome> => {
    try {
      const [still] = await redis.xrange(stream, p.id, p.id);
      if (!still) return [null, null]; // deleted meanwhile (replayed or purged by someone else)
      const newId = await redis.xadd(p.target, "*", ...p.fields);
      await redis.xdel(stream, p.id);
      return [null, newId];
    } catch (err) {
      return [err as Error, null];
    }
  }));
}

function parseReplay(args: readonly string[]): Action {
  const v = parseFlags("dlq replay", args, {
    all: { type: "boolean" },
    limit: { type: "string" },
    count: { type: "string" },
    id: { type: "string", multiple: true },
    "dry-run": { type: "boolean" },
  });
  const wanted = idFlags("dlq replay", v.id);
  const limited = v.limit !== undefined || v.count !== undefined;
  if ([wanted.length > 0, limited, v.all === true].filter(Boolean).length > 1) {
    throw new UsageError(
      "dlq replay: give only one of --all (every dead letter), --limit N (the oldest N) and --id ID...",
    );
  }
  const limit = limitFlag("dlq replay", v, Number.POSITIVE_INFINITY);
  const dryRun = v["dry-run"] === true;

  return async (redis, stream) => {
    let replayed = 0, skipped = 0;
    const replay = async (page: readonly Entry[]) => {
      const plan: Replay[] = [];
      for (const [id, flat] of page) {
        const dead = fieldsToObject(flat);
        const target = dead.original_stream ?? "";
        const fields = Object.entries(originalFields(dead)).flat();
        const problem = target === ""
          ? "it has no original_stream field"
          : target === stream
          ? `its original_stream is the dead-letter stream itself`
          : fields.length === 0
          ? "it has no original fields to replay"
          : undefined;
        if (problem) {
          printError(`dlq replay: skipped ${id}: ${problem}`);
          skipped++;
        } else if (dryRun) {
          printLine(`would replay ${id} to ${target}: ${JSON.stringify(Object.fromEntries(pairs(fields)))}`);
          replayed++;
        } else {
          plan.push({ id, target, fields });
        }
      }
      if (plan.length === 0) return;
      const results = isCluster(redis)
        ? await replayAcrossSlots(redis, stream, plan)
        : await replayAtomically(redis, stream, plan);
      plan.forEach((p, i) => {
        const [err, newId] = results[i] ?? [new Error("no reply")];
        if (err) {
          printError(`dlq replay: skipped ${p.id}: adding it to ${p.target} failed: ${describe(err)}`);
          skipped++;
        } else if (newId === null) {
          printError(`dlq replay: skipped ${p.id}: it was deleted meanwhile (replayed or purged by someone else)`);
          skipped++;
        } else {
          replayed++;
        }
      });
    };

    if (wanted.length > 0) {
      const found: Entry[] = [];
      for (const id of wanted) {
        const [hit] = await redis.xrange(stream, id, id) as Entry[];
        if (hit) {
          found.push(hit);
        } else {
          printError(`dlq replay: skipped ${id}: no such dead letter in ${stream}`);
          skipped++;
        }
      }
      await replay(found);
    } else {
      // Stop at the newest entry present now: letters that fail again while we
      // replay get new ids beyond it and are not replayed in a loop.
      const [last] = await redis.xrevrange(stream, "+", "-", "COUNT", 1) as Entry[];
      let start = "-", seen = 0;
      while (last && seen < limit) {
        const page = await redis.xrange(stream, start, last[0], "COUNT", Math.min(PAGE, limit - seen)) as Entry[];
        if (page.length === 0) break;
        await replay(page);
        seen += page.length;
        start = `(${page[page.length - 1]![0]}`;
      }
    }
    printLine(`${dryRun ? "dry run: would have " : ""}replayed ${replayed}, skipped ${skipped}`);
    return skipped === 0 ? 0 : 1;
  };
}

function pairs(flat: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}
