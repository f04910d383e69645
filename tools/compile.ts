/**
 * Builds the single binary: `deno compile` with the service's flags (from
 * service.flags) and db/migrations embedded, for this machine or a --target.
 *
 *   deno task compile | compile:x86_64 | compile:aarch64   (they call this script)
 *   tools/compile.ts [--target TRIPLE] [--output FILE] [--list-only]
 *
 * With DENORT_BIN set, the runtime it names is checked before anything is
 * built (ELF, 64-bit little-endian, the target's architecture, a Deno runtime,
 * not the full deno, the right Deno version). A build for this machine must
 * then answer `--version` with `db-writer <version>`, or it is deleted.
 * `--list-only` builds on deno itself, prints what the binary would embed and
 * deletes the result: it proves the module graph without a runtime, and writes
 * no binary. Exit codes: 0 built (or listed), 1 refused or failed, 2 bad usage.
 */
import { resolve } from "node:path";
import { runtimeFileProblem, runtimeHelp } from "./denort.ts";
import { readServiceFlags, SERVICE_FLAGS_FILE } from "./service_flags.ts";
import { binaryVersionProblem } from "./version_check.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** The command line of this script. */
export interface CompileOptions {
  /** Rust target triple; undefined builds for this machine. */
  readonly target?: string;
  /** Where the binary goes (relative to the working directory). */
  readonly output: string;
  /** List the embedded files only; write no binary. */
  readonly listOnly: boolean;
}

const USAGE = "usage: tools/compile.ts [--target TRIPLE] [--output FILE] [--list-only]";

/**
 * Parses this script's arguments; a later `--output` wins, so that
 * `deno task compile --output other/path` writes there.
 * @throws {Error} on an unknown argument or a flag without its value.
 */
export function parseCompileArgs(args: readonly string[]): CompileOptions {
  let target: string | undefined;
  let output = "dist/db-writer";
  let listOnly = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [name, inline] = arg.startsWith("--") && arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    if (name === "--list-only") {
      listOnly = true;
      continue;
    }
    if (name !== "--target" && name !== "--output") throw new Error(`unknown argument ${JSON.stringify(arg)}`);
    const value = inline ?? args[++i];
    if (value === undefined || value === "" || value.startsWith("--")) throw new Error(`${name} needs a value`);
    if (name === "--target") target = value;
    else output = value;
  }
  return { ...(target === undefined ? {} : { target }), output, listOnly };
}

/** The arguments of `deno compile` (after `deno`) for the service with `flags`. */
export function compileArgs(flags: readonly string[], opts: { target?: string; output: string }): string[] {
  return [
    "compile",
    ...flags,
    "--include",
    "db/migrations",
    ...(opts.target === undefined ? [] : ["--target", opts.target]),
    "--output",
    opts.output,
    "main.ts",
  ];
}

/** The deno task that builds for `target`, for messages. */
function taskFor(target: string | undefined): string {
  if (target === undefined) return "compile";
  if (target.startsWith("x86_64-")) return "compile:x86_64";
  if (target.startsWith("aarch64-")) return "compile:aarch64";
  return `compile --target ${target}`;
}

function say(text: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(`${text}\n`));
}

async function runDeno(args: readonly string[], env: Record<string, string> = {}): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), { args: [...args], cwd: ROOT, env, stdin: "null" }).spawn();
  return (await child.status).code;
}

async function listOnly(flags: readonly string[]): Promise<number> {
  say("compile --list-only: lists what the binary would embed; writes NO binary.");
  say("(deno itself stands in for the runtime, so the result is unusable and is deleted at once.)");
  await Deno.mkdir(`${ROOT}dist`, { recursive: true });
  const dir = await Deno.makeTempDir({ dir: `${ROOT}dist`, prefix: ".list-only-" });
  try {
    const code = await runDeno(compileArgs(flags, { output: `${dir}/db-writer` }), { DENORT_BIN: Deno.execPath() });
    say(
      code === 0
        ? "compile --list-only: listed; no binary written."
        : `compile --list-only: deno compile exited ${code}.`,
    );
    return code === 0 ? 0 : 1;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function build(opts: CompileOptions, flags: readonly string[]): Promise<number> {
  const meta = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)) as { version: string };
  const pinned = (await Deno.readTextFile(`${ROOT}.deno-version`)).trim();
  const target = opts.target ?? Deno.build.target;
  const output = resolve(Deno.cwd(), opts.output);
  const runtime = Deno.env.get("DENORT_BIN");
  const help = () => runtimeHelp({ target, denoVersion: Deno.version.deno, pinned, task: taskFor(opts.target) });

  if (runtime !== undefined) {
    const problem = runtime === ""
      ? "it is empty; unset DENORT_BIN to download the runtime, or set it to the path of a denort file"
      : await runtimeFileProblem(runtime, { target, denoVersion: Deno.version.deno });
    if (problem !== undefined) {
      say(`error: DENORT_BIN=${runtime} cannot be the runtime for target ${target}: ${problem}.`);
      say(help());
      return 1;
    }
  }

  const code = await runDeno(compileArgs(flags, { ...opts, output }));
  if (code !== 0) {
    say(`error: deno compile exited ${code}.`);
    if (runtime === undefined) say(`If it could not download the runtime (no internet access):\n${help()}`);
    return 1;
  }
  if (target !== Deno.build.target) {
    say(`built ${opts.output} for ${target}; it cannot run here, so its --version is checked on the target only.`);
    return 0;
  }
  const problem = await binaryVersionProblem(output, meta.version);
  if (problem === undefined) {
    say(`checked: ${opts.output} --version says db-writer ${meta.version}.`);
    return 0;
  }
  let removed = "deleted it";
  try {
    await Deno.remove(output);
  } catch (err) {
    removed = `could not delete it (${err instanceof Error ? err.message : String(err)}): do not use it`;
  }
  say(`error: ${opts.output} is not db-writer: ${problem}; ${removed}.`);
  say(
    runtime === undefined
      ? `The runtime deno compile downloaded is not the denort of Deno ${Deno.version.deno}; delete its cached copy (the dl folder of the Deno cache, e.g. ~/.cache/deno/dl) and build again.`
      : `It was built on DENORT_BIN=${runtime}.\n${help()}`,
  );
  return 1;
}

/** Runs the script with `args`; returns the exit code. */
export async function main(args: readonly string[]): Promise<number> {
  let opts: CompileOptions;
  try {
    opts = parseCompileArgs(args);
  } catch (err) {
    say(`error: ${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    return 2;
  }
  let flags: string[];
  try {
    flags = readServiceFlags(ROOT);
  } catch (err) {
    say(`error: cannot read ${SERVICE_FLAGS_FILE}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  return opts.listOnly ? await listOnly(flags) : await build(opts, flags);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
