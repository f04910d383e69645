/** `db-writer dlq list`: the oldest dead letters, for a person or as JSON lines. */
import { printError, printLine } from "../../log.ts";
import { fieldsToObject } from "../../source/fields.ts";
import { type LetterView, readLetter } from "../../dead_letters/read.ts";
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
      const letter = { id, ...shown(readLetter(id, fieldsToObject(flat))) };
      printLine(v.json === true ? JSON.stringify(letter) : readable(letter));
    }
    const total = await redis.xlen(stream);
    printError(`${entries.length} of ${total} dead letter(s) in ${stream} shown`);
    return 0;
  };
}

/** The JSON view of one dead letter (what `dlq list` prints), without what only replay needs. */
function shown(view: LetterView): Omit<LetterView, "unreplayable"> {
  const { unreplayable: _, ...rest } = view;
  return rest;
}

/** One line of `dlq list` for a person: id, time, where from, why, what. */
function readable(l: Omit<LetterView, "unreplayable"> & { id: string }): string {
  const at = typeof l.failed_at === "number" ? new Date(l.failed_at * 1000).toISOString() : String(l.failed_at);
  return `${l.id}  ${at}  ${l.original_stream ?? "?"} ${l.original_id ?? "?"}  error: ${l.error ?? "?"}  fields: ${
    JSON.stringify(l.fields)
  }`;
}
