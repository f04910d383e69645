/**
 * A service process for the bench: exactly what `deno task start` runs
 * (tests/_helpers/process.ts startTaskArgs), optionally with other V8 flags in place
 * of service.flags' `--v8-flags=…` (DENO_V8_FLAGS cannot override those: the
 * command line wins), or from another checkout of the project (`root`).
 */
import { startTaskArgs } from "../tests/_helpers/process.ts";

/** A running service: its process, and a promise of its `consuming` log line. */
export interface BenchService {
  readonly child: Deno.ChildProcess;
  readonly consuming: Promise<void>;
  /** SIGTERM, then waits; throws when the exit code is not 0. */
  stop(): Promise<void>;
}

/** Starts `db-writer run` with `env` (plus PATH/HOME); `v8Flags` replaces the V8 flags of service.flags. */
export function startService(env: Record<string, string>, v8Flags?: string, root?: string): BenchService {
  const here = new URL("../", import.meta.url).pathname;
  // Another checkout of the project (`--compare`): the same flags, its files.
  const args = startTaskArgs().map((a) => root ? a.replaceAll(here, root.endsWith("/") ? root : `${root}/`) : a).map((
    a,
  ) => a.startsWith("--v8-flags=") && v8Flags !== undefined ? `--v8-flags=${v8Flags}` : a);
  const child = new Deno.Command(Deno.execPath(), {
    args: [...args, "run"],
    env: { PATH: Deno.env.get("PATH") ?? "", HOME: Deno.env.get("HOME") ?? "/tmp", NO_COLOR: "1", ...env },
    clearEnv: true,
    cwd: Deno.makeTempDirSync({ prefix: "db-writer-bench-" }),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const tail: string[] = [];
  let seen = false;
  const consuming = (async () => {
    let rest = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      let i: number;
      while ((i = rest.indexOf("\n")) >= 0) {
        const line = rest.slice(0, i);
        rest = rest.slice(i + 1);
        if (!seen && line.includes(`"message":"consuming"`)) seen = true;
        tail.push(line);
        if (tail.length > 30) tail.shift();
      }
    }
  })();
  const errors = new Response(child.stderr).text();
  const ready = (async () => {
    while (!seen) {
      const exited = await Promise.race([child.status.then(() => true), new Promise((r) => setTimeout(r, 20, false))]);
      if (exited && !seen) throw new Error(`service exited before consuming:\n${tail.join("\n")}\n${await errors}`);
    }
  })();
  return {
    child,
    consuming: ready,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // already exited
      }
      const { code } = await child.status;
      await consuming;
      if (code !== 0) throw new Error(`service exited with ${code}:\n${tail.join("\n")}\n${await errors}`);
    },
  };
}
