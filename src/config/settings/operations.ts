/** Rows of the settings table: Logging, HTTP and migrations. */
import type { LogFormat } from "../../log.ts";
import { setting } from "../setting.ts";
import { bool, int, logLevel, oneOf, seconds, text } from "../fields.ts";

/** Logging settings. */
export const LOGGING = {
  logLevel: setting(
    "LOG_LEVEL",
    "logging",
    logLevel(),
    "Lowest level logged, any case; WARN is accepted for WARNING and CRITICAL for ERROR.",
  ),
  logFormat: setting(
    "LOG_FORMAT",
    "logging",
    oneOf<LogFormat>("auto", ["auto", "json", "text"], { console: "text" }),
    "`auto`: one readable line per record when the output is a terminal, JSON otherwise; `json` (one JSON object " +
      "per line, for log collectors); `text` (readable lines; `console` is accepted for it).",
  ),
  statsIntervalMs: setting(
    "STATS_INTERVAL_SEC",
    "logging",
    seconds(5, 0.1, 3600),
    "How often a throughput line is logged while there is traffic.",
  ),
  lagIntervalMs: setting(
    "LAG_INTERVAL_SEC",
    "logging",
    seconds(10, 0.1, 3600),
    "How often consumer lag and pending entries are read from Redis (XINFO GROUPS) for /metrics and the " +
      "throughput line.",
  ),
} as const;

/** HTTP settings. */
export const HTTP = {
  httpPort: setting(
    "HTTP_PORT",
    "http",
    int(9464, 0, 65535),
    "Port of /healthz, /readyz and /metrics; 0 turns the server off.",
  ),
  httpHost: setting("HTTP_HOST", "http", text("0.0.0.0"), "Address the HTTP server listens on."),
} as const;

/** Migrations settings. */
export const MIGRATIONS = {
  migrateOnStart: setting(
    "MIGRATE_ON_START",
    "migrations",
    bool(true),
    "Apply pending schema migrations before consuming.",
  ),
} as const;
