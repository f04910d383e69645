/**
 * Help texts: the one-line usage of each command (printed on stderr with a
 * usage error) and the `--help` of run, migrate and health. dlq and simulate
 * keep theirs next to their flags (DLQ_USAGE, SIMULATE_USAGE).
 */

/** The commands, in the order the top-level help lists them. */
export const COMMANDS = ["run", "migrate", "health", "dlq", "simulate"] as const;

/** A command name. */
export type Command = typeof COMMANDS[number];

/** True for a known command name. */
export function isCommand(word: string): word is Command {
  return (COMMANDS as readonly string[]).includes(word);
}

/** One-line usage per command, and for the program as a whole, each pointing at the full help. */
export const SHORT_USAGE: Readonly<Record<Command | "db-writer", string>> = {
  "db-writer": "Usage: db-writer [run | migrate | health | dlq | simulate] [options]   (more: db-writer --help)",
  run: "Usage: db-writer [run]   (more: db-writer run --help)",
  migrate: "Usage: db-writer migrate up | down [N] | status   (more: db-writer migrate --help)",
  health: "Usage: db-writer health   (more: db-writer health --help)",
  dlq: "Usage: db-writer dlq list | replay | purge [options]   (more: db-writer dlq --help)",
  simulate: "Usage: db-writer simulate [options]   (more: db-writer simulate --help)",
};

/** Help of `db-writer run`. */
export const RUN_HELP = `Usage: db-writer [run]

Consumes the streams matching STREAM_PATTERN with the consumer group
CONSUMER_GROUP_NAME, writes each reading to TABLE_NAME, dead-letters what
cannot be stored to DEAD_LETTER_STREAM and acknowledges an entry only after
that. Applies pending migrations first (MIGRATE_ON_START). Serves /healthz,
/readyz and /metrics on HTTP_PORT. On SIGTERM or SIGINT it finishes the batch
in hand and exits 0; after SHUTDOWN_TIMEOUT_SEC it gives up and exits 1.

Takes no arguments: every setting comes from the environment or .env.

Examples:
  db-writer                                  # same as db-writer run
  STREAM_PATTERN='mqtt_stream:*' db-writer run  # per-sensor streams only
  LOG_FORMAT=json LOG_LEVEL=debug db-writer run`;

/** Help of `db-writer migrate`. */
export const MIGRATE_HELP = `Usage: db-writer migrate up | down [N] | status

  up          apply every pending migration to TABLE_NAME (run also does this
              at start-up unless MIGRATE_ON_START=false)
  down [N]    revert the last N applied migrations (default 1)
  status      list every migration: applied (with the time) or pending

The migrations are part of the program (db/migrations/ in the source tree,
embedded in the binary); history is kept in db_writer_migrations next to the
table.

Examples:
  db-writer migrate status
  db-writer migrate up
  TABLE_NAME=plant2.sensor_readings db-writer migrate up
  db-writer migrate down 1`;

/** Help of `db-writer health`. */
export const HEALTH_HELP = `Usage: db-writer health

Checks Redis and PostgreSQL and asks the instance running on this machine
(http://127.0.0.1:HTTP_PORT/readyz) for its state. Prints one JSON object,
{"running", "redis", "database", "stats"}; "running" is null when HTTP_PORT=0.
Exit 0 when healthy, 1 when not: usable as a container or systemd health check.

Examples:
  db-writer health
  db-writer health && echo healthy
  HTTP_PORT=0 db-writer health               # only Redis and PostgreSQL`;
