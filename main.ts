/**
 * db-writer: Redis Streams → PostgreSQL. Command-line entry point and the
 * only place that reads the configuration and wires things together.
 */
import { type Config, loadConfig, readEnvironment } from "./src/config.ts";
import { ConfigError, describe, MigrationError, UsageError } from "./src/errors.ts";
import { printError, printLine, setupLogging } from "./src/log.ts";
import { VERSION } from "./src/version.ts";
import { runService } from "./src/cli/run.ts";
import { runMigrate } from "./src/cli/migrate.ts";
import { runHealth } from "./src/cli/health.ts";
import { DLQ_USAGE, runDlq } from "./src/cli/dlq.ts";
import { runSimulate, SIMULATE_USAGE } from "./src/cli/simulate.ts";

const USAGE = `db-writer ${VERSION}: moves sensor readings from Redis Streams into PostgreSQL/TimescaleDB.

Usage: db-writer [command] [options]

Commands:
  run                      consume until SIGTERM/SIGINT, then drain and exit (default)
  migrate up               apply pending schema migrations
  migrate down [N]         revert the last N migrations (default 1)
  migrate status           list migrations and whether they are applied
  health                   check Redis and PostgreSQL, print JSON; exit 0 healthy, 1 not
  dlq list [--limit N] [--json]
                           show dead letters
  dlq replay [--id ID... | --all] [--dry-run]
                           put dead letters back on their original stream
  dlq purge (--before TIME | --all | --id ID...) [--yes]
                           delete dead letters
  simulate [options]       write realistic sensor messages into Redis (see simulate --help)

Each of dlq and simulate has its own --help.

Options:
  -h, --help               show this help
  -V, --version            show the version

Configuration comes from the environment and a .env file in the working directory
(real environment variables win). See .env.example for every setting.
Exit codes: 0 ok, 1 failure or unhealthy, 2 bad configuration or usage.`;

const COMMANDS = new Set(["run", "migrate", "health", "dlq", "simulate"]);

/** Runs the CLI; resolves with the process exit code. */
export async function main(args: readonly string[]): Promise<number> {
  const [first, ...rest] = args;
  if (first === "-h" || first === "--help" || first === "help") {
    printLine(USAGE);
    return 0;
  }
  if (first === "-V" || first === "--version" || first === "version") {
    printLine(`db-writer ${VERSION}`);
    return 0;
  }
  // Help needs no configuration: answer it before reading any.
  if (rest.includes("--help") || rest.includes("-h")) {
    printLine(first === "dlq" ? DLQ_USAGE : first === "simulate" ? SIMULATE_USAGE : USAGE);
    return 0;
  }
  const command = first ?? "run";
  if (!COMMANDS.has(command)) {
    printError(`db-writer: unknown command ${JSON.stringify(command)}; run db-writer --help for the list`);
    return 2;
  }

  let config: Config;
  try {
    config = loadConfig(readEnvironment(Deno.env.toObject()), { hostname: Deno.hostname(), pid: Deno.pid });
  } catch (err) {
    if (err instanceof ConfigError) {
      printError(`db-writer: cannot start, the configuration has ${err.problems.length} problem(s):`);
      for (const p of err.problems) printError(`  ${p}`);
      return 2;
    }
    throw err;
  }
  setupLogging({ level: config.logLevel, format: config.logFormat });

  try {
    switch (command) {
      case "run":
        if (rest.length > 0) throw new UsageError(`run takes no arguments, got ${rest.join(" ")}`);
        return await runService(config);
      case "migrate":
        return await runMigrate(config, rest);
      case "health":
        return await runHealth(config);
      case "dlq":
        return await runDlq(config, rest);
      case "simulate":
        return await runSimulate(config, rest);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      printError(`db-writer: ${err.message}`);
      return 2;
    }
    if (err instanceof MigrationError) {
      printError(`db-writer: ${err.message}`);
      return 1;
    }
    printError(`db-writer: ${command} failed: ${describe(err)}`);
    return 1;
  }
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
