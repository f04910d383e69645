/**
 * `db-writer simulate`: a load generator.
 */
import type { Config } from "../config.ts";
import { UsageError } from "../errors.ts";

/** Runs the simulator; resolves with the exit code. */
export function runSimulate(_config: Config, _args: readonly string[]): Promise<number> {
  return Promise.reject(new UsageError("simulate: not implemented yet"));
}
