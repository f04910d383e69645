/**
 * db-writer: Redis Streams → PostgreSQL. Command-line entry point and the
 * only place that reads the configuration and wires things together.
 */
import type { Config } from "./src/config/load.ts";
import { loadConfig, processEnvironment, readEnvironment } from "./src/config/load.ts";
import { ConfigError, describe, MigrationError, UsageError } from "./src/errors.ts";
import { logger, printError, printLine, setupLogging } from "./src/log.ts";
import { guardDriverRejections } from "./src/sink/client.ts";
import { VERSION } from "./src/version.ts";
import { runService } from "./src/cli/run.ts";
import { runMigrate } from "./src/cli/migrate.ts";
import { runHealth } from "./src/cli/health.ts";
import { DLQ_USAGE, runDlq } from "./src/cli/dlq/dlq.ts";
import { runSimulate, SIMULATE_USAGE } from "./src/cli/simulate/simulate.ts";
import { type Command, HEALTH_HELP, isCommand, MIGRATE_HELP, RUN_HELP, SHORT_USAGE } from "./src/cli/help.ts";

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
  dlq replay [--id ID... | --all | --limit N] [--dry-run]
                           put dead letters back on their original stream
  dlq purge (--before TIME | --all | --id ID...) [--yes]
                           delete dead letters
  simulate [options]       write realistic sensor messages into Redis (see simulate --help)

Every command has its own --help, with examples (db-writer migrate --help).

Options:
  -h, --help               show this help
  -V, --version            show the version

Configuration comes from the environment and a .env file in the working directory
(real environment variables win). See .env.example for every setting.

Examples:
  db-writer                                  # run until SIGTERM
  db-writer migrate status
  db-writer health
  db-writer dlq replay --dry-run
  db-writer simulate --count 1000 --rate 200

Exit codes:
  0   success; health: healthy
  1   failure at run time (a migration cannot be applied, the shutdown deadline
      passed with work unfinished, a dlq entry skipped); health: unhealthy
  2   bad configuration, unknown command or option, bad arguments
  130 a second SIGTERM/SIGINT stopped the drain`;

const HELP: Readonly<Record<Command, string>> = {
  run: RUN_HELP,
  migrate: MIGRATE_HELP,
  health: HEALTH_HELP,
  dlq: DLQ_USAGE,
  simulate: SIMULATE_USAGE,
};

/** A usage error: the problem and the command's one-line usage, on stderr; exit code 2. */
function usageError(command: Command | "db-writer", problem: string): number {
  printError(`db-writer: ${problem}`);
  printError(SHORT_USAGE[command]);
  return 2;
}

/** Runs the CLI; resolves with the process exit code. */
export async function main(args: readonly string[]): Promise<number> {
  const [first, ...rest] = args;
  if (first === "-h" || first === "--help" || (first === "help" && rest.length === 0)) {
    printLine(USAGE);
    return 0;
  }
  if (first === "-V" || first === "--version" || first === "version") {
    printLine(`db-writer ${VERSION}`);
    return 0;
  }
  if (first === "help" && rest.length > 0) {
    const topic = rest[0]!;
    if (!isCommand(topic)) return usageError("db-writer", `help: unknown command ${JSON.stringify(topic)}`);
    printLine(HELP[topic]);
    return 0;
  }
  if (first?.startsWith("-")) return usageError("db-writer", `unknown option ${JSON.stringify(first)}`);
  const command = first ?? "run";
  if (!isCommand(command)) return usageError("db-writer", `unknown command ${JSON.stringify(command)}`);
  // Help and plain usage errors need no configuration: answer them before reading any.
  if (rest.includes("--help") || rest.includes("-h")) {
    printLine(HELP[command]);
    return 0;
  }
  if ((command === "run" || command === "health") && rest.length > 0) {
    return usageError(command, `${command} takes no arguments, got ${rest.join(" ")}`);
  }

  let config: Config;
  try {
    config = loadConfig(readEnvironment(processEnvironment()), { hostname: Deno.hostname(), pid: Deno.pid });
  } catch (err) {
    if (err instanceof ConfigError) {
      printError(`db-writer: cannot start, the configuration has ${err.problems.length} problem(s):`);
      for (const p of err.problems) printError(`  ${p}`);
      return 2;
    }
    throw err;
  }
  setupLogging({ level: config.logLevel, format: config.logFormat });
  // A connection the database driver loses on its own (see guardDriverRejections) never ends a command: the
  // service notes it; other commands, whose own statements fail with their own message, only at debug level.
  const log = logger(command === "run" ? "service" : command);
  using _guard = guardDriverRejections((err) =>
    log[command === "run" ? "warn" : "debug"](
      "a connection failed while no statement waited on it (inside the database driver); it opens another",
      { error: describe(err) },
    )
  );

  try {
    switch (command) {
      case "run":
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
    if (err instanceof UsageError) return usageError(command, err.message);
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
