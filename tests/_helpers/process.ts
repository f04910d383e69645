/**
 * Running the service and the CLI as real processes, exactly as `deno task
 * start` would (same permissions), with their output collected; stopping
 * them within a bound.
 */
import { readServiceFlags } from "../../tools/service_flags.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** Files the service reads relative to its working directory (the rest are relative to the project). */
const CWD_RELATIVE = new Set([".env", "certs"]);

/**
 * The arguments of deno.json's `start` task (`deno run $(cat service.flags)
 * main.ts run`), so that every test that runs the service runs it with exactly
 * the permissions `deno task start` grants. `deno task` runs from the project
 * directory; tests run from a temporary one, so project paths in `--allow-read`
 * are made absolute (`.env` and `certs` stay relative: the service reads them
 * from its working directory). The trailing `run` is dropped: each test passes
 * its own command.
 */
export function startTaskArgs(): string[] {
  const task: string = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`)).tasks.start;
  if (task.trim() !== "deno run $(cat service.flags) main.ts run") {
    throw new Error(
      `deno.json's start task must read "deno run $(cat service.flags) main.ts run", got ${JSON.stringify(task)}`,
    );
  }
  const flags = readServiceFlags(ROOT).map((flag) => {
    const m = /^--allow-read=(.*)$/.exec(flag);
    if (!m) return flag;
    const paths = m[1]!.split(",").map((p) => (p.startsWith("/") || CWD_RELATIVE.has(p) ? p : `${ROOT}${p}`));
    return `--allow-read=${paths.join(",")}`;
  });
  return ["run", ...flags, `${ROOT}main.ts`];
}

const DENO_ARGS = startTaskArgs();

/** A running `db-writer` process with its output collected. */
export interface ServiceProcess extends AsyncDisposable {
  readonly child: Deno.ChildProcess;
  /** Every stdout line so far (JSON log lines in json mode). */
  readonly lines: string[];
  /** Every stderr line so far. */
  readonly errLines: string[];
  /** Parsed JSON log records so far (non-JSON lines skipped). */
  records(): Record<string, unknown>[];
  /** Sends a signal. */
  kill(signal?: Deno.Signal): void;
  /** Waits for exit; returns the status. */
  status: Promise<Deno.CommandStatus>;
  /** Resolves when a log record satisfies `pred`, or rejects after `timeoutMs`. */
  waitForLog(pred: (r: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
}

async function collect(stream: ReadableStream<Uint8Array>, into: string[]): Promise<void> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    rest += chunk;
    let i: number;
    while ((i = rest.indexOf("\n")) >= 0) {
      into.push(rest.slice(0, i));
      rest = rest.slice(i + 1);
    }
  }
  if (rest) into.push(rest);
}

/**
 * Starts `db-writer` with `args` and exactly `env` (plus PATH/HOME), from a
 * temporary working directory so no `.env` is picked up by accident.
 */
export function spawnService(args: string[], env: Record<string, string>, opts: { cwd?: string } = {}): ServiceProcess {
  const cwd = opts.cwd ?? Deno.makeTempDirSync({ prefix: "db-writer-test-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: [...DENO_ARGS, ...args],
    env: { PATH: Deno.env.get("PATH") ?? "", HOME: Deno.env.get("HOME") ?? "/tmp", NO_COLOR: "1", ...env },
    clearEnv: true,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const errLines: string[] = [];
  const done = Promise.all([collect(child.stdout, lines), collect(child.stderr, errLines)]);
  const status = child.status.then(async (s) => {
    await done;
    return s;
  });
  const records = () =>
    lines.flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  return {
    child,
    lines,
    errLines,
    records,
    status,
    kill(signal: Deno.Signal = "SIGTERM") {
      try {
        child.kill(signal);
      } catch {
        // already exited
      }
    },
    async waitForLog(pred, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const hit = records().find(pred);
        if (hit) return hit;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(
        `no matching log line within ${timeoutMs} ms; stdout:\n${lines.slice(-30).join("\n")}\nstderr:\n${
          errLines.slice(-30).join("\n")
        }`,
      );
    },
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGKILL");
      } catch {
        // already exited
      }
      await status;
    },
  };
}

/** Runs `db-writer` to completion and returns its exit code and output. */
export async function runCli(
  args: string[],
  env: Record<string, string>,
  opts: { cwd?: string; timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const cwd = opts.cwd ?? Deno.makeTempDirSync({ prefix: "db-writer-test-" });
  // A command that never ends fails its test (killed after `timeoutMs`) instead of holding up the whole run.
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...DENO_ARGS, ...args],
    env: { PATH: Deno.env.get("PATH") ?? "", HOME: Deno.env.get("HOME") ?? "/tmp", NO_COLOR: "1", ...env },
    clearEnv: true,
    cwd,
    stdin: "null",
    signal: AbortSignal.timeout(opts.timeoutMs ?? 180_000),
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Resolves with the exit status, or rejects when the process has not exited within `ms`. */
export async function exitWithin(
  svc: ServiceProcess,
  ms: number,
  what = "the service to exit",
): Promise<Deno.CommandStatus> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      svc.status,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `timed out after ${ms} ms waiting for ${what}; stdout:\n${svc.lines.slice(-20).join("\n")}\nstderr:\n${
                  svc.errLines.slice(-20).join("\n")
                }`,
              ),
            ),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Sends SIGTERM and returns the exit code, which must come within `ms`. */
export async function stopService(svc: ServiceProcess, ms = 15_000): Promise<number> {
  svc.kill("SIGTERM");
  return (await exitWithin(svc, ms)).code;
}

/** Log records with this exact message. */
export function logsWith(svc: ServiceProcess, message: string): Record<string, unknown>[] {
  return svc.records().filter((r) => r.message === message);
}

/** Predicate for `waitForLog`: the record's message is exactly `message`. */
export const message = (m: string) => (r: Record<string, unknown>): boolean => r.message === m;
