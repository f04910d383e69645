/**
 * `db-writer dlq replay`: each dead letter's original fields go back onto its
 * original stream as a new entry; the dead letter is deleted only after that.
 */
import { describe, UsageError } from "../../errors.ts";
import { printError, printLine } from "../../log.ts";
import { isCluster, type RedisClient } from "../../source/redis.ts";
import { fieldsToObject } from "../../source/fields.ts";
import { readLetter } from "../../dead_letters/read.ts";
import { idFlags, parseFlags } from "../args.ts";
import { type Action, type Entry, limitFlag } from "./flags.ts";

/** Dead letters read per XRANGE while replaying. */
const PAGE = 1000;

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

/** Parses `dlq replay` flags into its action. */
export function parseReplay(args: readonly string[]): Action {
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
        const letter = readLetter(id, fieldsToObject(flat));
        const target = letter.original_stream ?? "";
        const fields = Object.entries(letter.fields).flat();
        const problem = letter.unreplayable !== undefined
          ? letter.unreplayable
          : target === ""
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
