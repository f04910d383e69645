/**
 * `db-writer dlq list | replay | purge`: inspect dead letters, put them back
 * on their original streams, or delete them.
 */
import type { Config } from "../config.ts";
import { describe, UsageError } from "../errors.ts";
import { printError, printLine } from "../log.ts";
import { fieldsToObject, isCluster, type RedisClient } from "../source/redis.ts";
import { originalFields } from "../source/dead_letter.ts";
import { intFlag, isStreamId, parseFlags } from "./args.ts";
import { withRedis } from "./with_redis.ts";

/** Help text of `db-writer dlq`. */
export const DLQ_USAGE = `Usage:
  db-writer dlq list [--count N] [--json]
      Print the oldest N dead letters (default 100), one JSON object per line:
      {"id", "original_stream", "original_id", "error", "failed_at", "fields"}.
      --json is accepted for clarity; the output is always JSON lines.
  db-writer dlq replay [--count N | --id ID...] [--dry-run]
      Add each dead letter's original fields as a new entry on its original
      stream and delete the dead letter, atomically per entry (in a Redis
      Cluster: added first, then deleted; see the README). Default: every
      dead letter present when the command starts (read 1000 at a time);
      --count N takes the oldest N; --id (repeatable) picks entries.
      --dry-run only prints what would be replayed. Exit 1 if any is skipped.
  db-writer dlq purge (--all | --id ID...)
      Delete every dead letter, or the given ones.

The dead-letter stream is DEAD_LETTER_STREAM (default mqtt_stream:failed).`;

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

function ids(command: string, raw: readonly string[] | undefined): string[] {
  const list = [...new Set(raw ?? [])];
  for (const id of list) {
    if (!isStreamId(id)) {
      throw new UsageError(
        `${command}: --id must be a stream entry id like 1700000000000-0, got ${JSON.stringify(id)}`,
      );
    }
  }
  return list;
}

function parseList(args: readonly string[]): Action {
  const v = parseFlags("dlq list", args, { count: { type: "string" }, json: { type: "boolean" } });
  const count = intFlag("dlq list", "count", v.count, 100, 1);
  return async (redis, stream) => {
    const entries = await redis.xrange(stream, "-", "+", "COUNT", count) as Entry[];
    for (const [id, flat] of entries) printLine(JSON.stringify(describeLetter(id, fieldsToObject(flat))));
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

// Delete first: only the caller that removes the dead letter re-adds it, so a
// crash (atomic script) or two replays racing over one entry cannot duplicate it.
const DELETE_THEN_ADD = `
if redis.call('XDEL', KEYS[1], ARGV[1]) == 0 then return false end
return redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))`;

type Replay = { id: string; target: string; fields: string[] };
type Outcome = [Error | null, unknown];

async function replayAtomically(redis: RedisClient, stream: string, plan: readonly Replay[]): Promise<Outcome[]> {
  const pipe = redis.pipeline();
  for (const p of plan) pipe.eval(DELETE_THEN_ADD, 2, stream, p.target, p.id, ...p.fields);
  return (await pipe.exec()) ?? [];
}

// In a Redis Cluster the two streams usually live in different slots, out of
// reach of one script: add first, then delete, so a crash in between (or two
// replays racing) can duplicate a replayed entry but never lose a dead letter.
function replayAcrossSlots(redis: RedisClient, stream: string, plan: readonly Replay[]): Promise<Outcome[]> {
  return Promise.all(plan.map(async (p): Promise<Outcome> => {
    try {
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
    count: { type: "string" },
    id: { type: "string", multiple: true },
    "dry-run": { type: "boolean" },
  });
  const wanted = ids("dlq replay", v.id);
  if (wanted.length > 0 && v.count !== undefined) {
    throw new UsageError("dlq replay: give either --count N (the oldest N) or --id ID..., not both");
  }
  const limit = intFlag("dlq replay", "count", v.count, Number.POSITIVE_INFINITY, 1);
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

function parsePurge(args: readonly string[]): Action {
  const v = parseFlags("dlq purge", args, { all: { type: "boolean" }, id: { type: "string", multiple: true } });
  const wanted = ids("dlq purge", v.id);
  if (v.all === true && wanted.length > 0) {
    throw new UsageError("dlq purge: give either --all or --id ID..., not both");
  }
  if (v.all !== true && wanted.length === 0) {
    throw new UsageError(
      "dlq purge: say what to delete: --all (every dead letter) or --id ID (one entry; repeat for more)",
    );
  }
  return async (redis, stream) => {
    if (v.all === true) {
      // XTRIM counts exactly what it removes and keeps the key and its last id.
      const purged = await redis.xtrim(stream, "MAXLEN", 0);
      printLine(`purged ${purged}`);
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
