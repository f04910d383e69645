/**
 * Strict flag parsing for the subcommands: `node:util` parseArgs, with its
 * errors turned into {@link UsageError}s that name the command, and number
 * flags checked with messages a person can act on.
 */
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { UsageError } from "../errors.ts";

/**
 * Parses `args` strictly (unknown flags and stray words are errors).
 * @throws {UsageError} naming `command` and pointing at its `--help`.
 */
export function parseFlags<T extends ParseArgsOptionsConfig>(
  command: string,
  args: readonly string[],
  options: T,
): ReturnType<typeof parseArgs<{ options: T; strict: true; allowPositionals: false }>>["values"] {
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    const message = (err as Error).message.replace(/\s*\n\s*/g, " ");
    throw new UsageError(`${command}: ${message}; run db-writer ${command} --help for the options`);
  }
}

/**
 * A whole-number flag value in `[min, max]`, or `fallback` when absent.
 * @throws {UsageError} for anything else.
 */
export function intFlag(
  command: string,
  flag: string,
  raw: string | undefined,
  fallback: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (raw === undefined) return fallback;
  const n = Number(raw.trim());
  if (!/^\+?\d+$/.test(raw.trim()) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
    throw new UsageError(`${command}: --${flag} must be a whole number ${range}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/**
 * A decimal flag value in `[min, max]`, or `fallback` when absent.
 * @throws {UsageError} for anything else.
 */
export function numberFlag(
  command: string,
  flag: string,
  raw: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (raw === undefined) return fallback;
  const n = Number(raw.trim());
  if (!/^\+?(\d+\.?\d*|\.\d+)$/.test(raw.trim()) || n < min || n > max) {
    const range = max === Number.POSITIVE_INFINITY ? `${min} or more` : `from ${min} to ${max}`;
    throw new UsageError(`${command}: --${flag} must be a number ${range}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** True for a Redis stream entry id (`1700000000000-0`, or just the milliseconds). */
export function isStreamId(id: string): boolean {
  return /^\d{1,20}(-\d{1,20})?$/.test(id);
}

/**
 * The distinct values of a repeatable `--id` flag, each a stream entry id.
 * @throws {UsageError} naming `command` for anything else.
 */
export function idFlags(command: string, raw: readonly string[] | undefined): string[] {
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
