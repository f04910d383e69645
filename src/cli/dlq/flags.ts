/** What the dlq subcommands share: the shape of an action and the `--limit` flag. */
import { UsageError } from "../../errors.ts";
import type { RedisClient } from "../../source/redis.ts";
import { intFlag } from "../args.ts";

/** A parsed dlq subcommand, ready to run against the dead-letter stream; resolves with the exit code. */
export type Action = (redis: RedisClient, stream: string) => Promise<number>;

/** Dead-letter entries as XRANGE returns them. */
export type Entry = [id: string, fields: string[]];

/** `--limit N`, or its older spelling `--count N` (not both). */
export function limitFlag(command: string, v: { limit?: string; count?: string }, fallback: number): number {
  if (v.limit !== undefined && v.count !== undefined) {
    throw new UsageError(`${command}: --count is an alias of --limit; give one of them`);
  }
  return v.limit !== undefined
    ? intFlag(command, "limit", v.limit, fallback, 1)
    : intFlag(command, "count", v.count, fallback, 1);
}
