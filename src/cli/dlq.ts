/**
 * `db-writer dlq list | replay | purge`.
 */
import type { Config } from "../config.ts";
import { UsageError } from "../errors.ts";

/** Runs a dlq subcommand; resolves with the exit code. */
export function runDlq(_config: Config, _args: readonly string[]): Promise<number> {
  return Promise.reject(new UsageError("dlq: not implemented yet"));
}
