/** Rows of the settings table: Logging, HTTP and migrations. */
import type { LogFormat } from "../../log.ts";
import { setting } from "../setting.ts";
import { bool, int, logLevel, oneOf, seconds, secret, text } from "../fields.ts";
import { pemFile } from "../connection_fields.ts";

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
  httpHost: setting(
    "HTTP_HOST",
    "http",
    text("127.0.0.1"),
    "Address the HTTP server listens on: loopback only by default; `0.0.0.0` (or `::`) for every interface, as " +
      "the container image sets it so that the published port and a remote Prometheus reach it.",
  ),
  httpBearerToken: setting(
    "HTTP_BEARER_TOKEN",
    "http",
    secret(),
    "When set, /readyz and /metrics answer only requests with `Authorization: Bearer <token>` (or the basic " +
      "credentials below); /healthz stays open. Never printed.",
    { visibility: "secret" },
  ),
  httpBasicAuthUser: setting(
    "HTTP_BASIC_AUTH_USER",
    "http",
    text(),
    "With HTTP_BASIC_AUTH_PASSWORD: /readyz and /metrics also accept these HTTP basic credentials.",
  ),
  httpBasicAuthPassword: setting(
    "HTTP_BASIC_AUTH_PASSWORD",
    "http",
    secret(),
    "Password of HTTP_BASIC_AUTH_USER; never printed.",
    { visibility: "secret" },
  ),
  httpTlsCertFile: setting(
    "HTTP_TLS_CERT_FILE",
    "http",
    pemFile(),
    "With HTTP_TLS_KEY_FILE: serve HTTPS with this PEM certificate (chain); `health` trusts the certificates in " +
      "it and asks `localhost`.",
    { example: "/etc/db-writer/http.crt" },
  ),
  httpTlsKeyFile: setting(
    "HTTP_TLS_KEY_FILE",
    "http",
    pemFile(),
    "PEM private key of HTTP_TLS_CERT_FILE.",
    { example: "/etc/db-writer/http.key" },
  ),
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
