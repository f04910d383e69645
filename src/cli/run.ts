/**
 * `db-writer run`: the service until SIGTERM/SIGINT, then a drain bounded by
 * SHUTDOWN_TIMEOUT_SEC; a second signal exits at once.
 */
import type { Config } from "../config/load.ts";
import { logger } from "../log.ts";
import { createApp } from "../app.ts";
import { onShutdownSignals } from "../shutdown.ts";

/** How long past the shutdown deadline stuck work may hold the process before it exits anyway. */
const WATCHDOG_MS = 3000;

/** Runs the service until stopped; resolves with the process exit code. */
export async function runService(config: Config, opts: { stop?: AbortController } = {}): Promise<number> {
  const log = logger("service");
  const stop = opts.stop ?? new AbortController();
  const hard = new AbortController();
  // Never unwired: a copy of the first signal (Ctrl-C reaches `deno task` too,
  // which forwards it) may arrive after the drain, and must not kill the
  // process with the default action; main() exits right after this returns.
  onShutdownSignals(stop, {
    onShutdown: (sig) => log.info("shutting down: finishing the batch in hand", { signal: sig }),
    onHardExit: (sig) => {
      log.warn("second signal: exiting now; unfinished entries stay pending", { signal: sig });
      Deno.exit(130);
    },
  });
  let hardTimer: ReturnType<typeof setTimeout> | undefined;
  stop.signal.addEventListener("abort", () => {
    hardTimer = setTimeout(() => hard.abort(), config.shutdownTimeoutMs);
  }, { once: true });
  // Past the deadline, whatever still hangs (a lock, a silent server) does not
  // hold the process: unacknowledged entries stay pending and are redelivered.
  hard.signal.addEventListener("abort", () => {
    const watchdog = setTimeout(() => {
      log.warn("shutdown deadline passed and work is still stuck; exiting, unfinished entries stay pending", {
        shutdown_timeout_sec: config.shutdownTimeoutMs / 1000,
      });
      Deno.exit(1);
    }, WATCHDOG_MS);
    Deno.unrefTimer(watchdog);
  }, { once: true });

  let exitCode: number;
  {
    await using app = createApp(config);
    try {
      exitCode = await app.run(stop.signal, hard.signal);
    } finally {
      clearTimeout(hardTimer);
    }
  }
  log.info("stopped", { exit_code: exitCode });
  return exitCode;
}
