/**
 * The last word on a build for this machine: the binary must answer
 * `--version` with `db-writer <version>`. A binary built on the wrong runtime
 * answers as deno (`deno 2.9.6`), or not at all.
 */

/** What a finished `--version` run gave. */
export interface VersionRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Why `run` is not db-writer's `--version`, or undefined when it is `db-writer <version>`. */
export function versionProblem(run: VersionRun, version: string): string | undefined {
  const wanted = `db-writer ${version}`;
  const first = run.stdout.trim().split("\n")[0]?.trim() ?? "";
  if (run.code === 0 && first === wanted) return undefined;
  const said = first !== ""
    ? `printed ${JSON.stringify(first)}`
    : run.stderr.trim() !== ""
    ? `printed nothing on stdout and ${JSON.stringify(run.stderr.trim().split("\n")[0])} on stderr`
    : "printed nothing";
  return `--version ${said} and exited ${run.code}; expected ${JSON.stringify(wanted)} and exit 0`;
}

/**
 * Runs `binary --version` (at most `timeoutMs`, no environment but NO_COLOR)
 * and says why it is not db-writer `version`, or undefined when it is.
 */
export async function binaryVersionProblem(
  binary: string,
  version: string,
  timeoutMs = 30_000,
): Promise<string | undefined> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(binary, {
      args: ["--version"],
      clearEnv: true,
      env: { NO_COLOR: "1" },
      stdin: "null",
      signal: AbortSignal.timeout(timeoutMs),
    }).output();
  } catch (err) {
    return `it could not be run: ${err instanceof Error ? err.message : String(err)}`;
  }
  if (out.signal !== null) return `--version did not finish within ${timeoutMs / 1000} s (killed by ${out.signal})`;
  const dec = new TextDecoder();
  return versionProblem({ code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) }, version);
}
