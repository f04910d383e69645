/**
 * `db-writer dlq list | replay | purge`: inspect dead letters, put them back
 * on their original streams, or delete them.
 */
import type { Config } from "../../config/load.ts";
import { UsageError } from "../../errors.ts";
import { printLine } from "../../log.ts";
import { withRedis } from "../with_redis.ts";
import { DEFAULT_LIST_LIMIT, parseList } from "./list.ts";
import { CONSUMING } from "../../config/settings/consuming.ts";
import { parseReplay } from "./replay.ts";
import { parsePurge } from "./purge.ts";

/** Help text of `db-writer dlq`. */
export const DLQ_USAGE = `Usage:
  db-writer dlq list [--limit N] [--json]
      Show the oldest N dead letters (default ${DEFAULT_LIST_LIMIT}), one per line: id, when it
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

The dead-letter stream is DEAD_LETTER_STREAM (default ${CONSUMING.deadLetterStream.shownDefault}).
Letters the iotDashboard writer left (fields stream_key, message_id,
device_id, metric, value, timestamp, reason) are listed too, and replayed as
an entry of device_id, metric, value and timestamp on their stream_key; one
that lacks any of these four is skipped, and says so.

Examples:
  db-writer dlq list --limit 10
  db-writer dlq replay --dry-run             # what would go back, changes nothing
  db-writer dlq replay --id 1764324000000-0 --id 1764324000000-1
  db-writer dlq purge --all`;

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
