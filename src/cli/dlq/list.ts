/** `db-writer dlq list`: the oldest dead letters, for a person or as JSON lines. */
import { printError, printLine } from "../../log.ts";
import { fieldsToObject } from "../../source/fields.ts";
import { originalFields } from "../../dead_letters/format.ts";
import { parseFlags } from "../args.ts";
import { type Action, type Entry, limitFlag } from "./flags.ts";

/** How many dead letters `dlq list` shows without --limit. */
export const DEFAULT_LIST_LIMIT = 100;

/** Parses `dlq list` flags into its action. */
export function parseList(args: readonly string[]): Action {
  const v = parseFlags("dlq list", args, {
    limit: { type: "string" },
    count: { type: "string" },
    json: { type: "boolean" },
  });
  const count = limitFlag("dlq list", v, DEFAULT_LIST_LIMIT);
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
