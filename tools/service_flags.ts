/**
 * `service.flags`: the service's permission and V8 flags, one per line, read
 * by every task that runs or builds the service (`deno run $(cat service.flags)
 * main.ts …`, and tools/compile.ts for `deno compile`).
 */

/** The file, relative to the project root. */
export const SERVICE_FLAGS_FILE = "service.flags";

/**
 * The flags of a `service.flags` text, in order. Blank lines are skipped; any
 * other line must be one flag, since `$(cat service.flags)` splits on
 * whitespace and passes every word to deno.
 * @throws {Error} naming the line that is not a single flag.
 */
export function parseServiceFlags(text: string): string[] {
  const flags: string[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "") return;
    if (!/^--?[a-zA-Z]/.test(line) || /\s/.test(line)) {
      throw new Error(
        `${SERVICE_FLAGS_FILE} line ${i + 1}: expected one flag such as --allow-net, got ${JSON.stringify(line)}`,
      );
    }
    flags.push(line);
  });
  if (flags.length === 0) throw new Error(`${SERVICE_FLAGS_FILE} is empty: the service would run with no permissions`);
  return flags;
}

/** Reads and parses `service.flags` under the project directory `root` (ending in `/`). */
export function readServiceFlags(root: string): string[] {
  return parseServiceFlags(Deno.readTextFileSync(`${root}${SERVICE_FLAGS_FILE}`));
}
