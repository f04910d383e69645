/** Rows of the settings table: PostgreSQL and TimescaleDB. */
import { setting } from "../setting.ts";
import { bool, int, interval, oneOf } from "../fields.ts";
import { type Layout, LAYOUTS } from "../../sink/layout.ts";
import { databaseUrl, tableName } from "../connection_fields.ts";

/** PostgreSQL settings. */
export const DATABASE = {
  databaseUrl: setting(
    "DATABASE_URL",
    "database",
    databaseUrl("postgres://postgres@localhost:5432/postgres"),
    "Connection URL, `postgres://` or `postgresql://`; the libpq TLS parameters `sslmode` (disable, allow, prefer, " +
      "require, verify-ca, verify-full), `sslrootcert`, `sslcert` and `sslkey` are honoured. When unset, the DB_* " +
      "set below builds it (DATABASE_URL wins when both are given).",
    {
      visibility: "url",
      example:
        "postgres://writer:password@db.example:5432/iot?sslmode=verify-full&sslrootcert=/etc/db-writer/pg-ca.pem",
    },
  ),
  tableLayout: setting(
    "TABLE_LAYOUT",
    "database",
    oneOf<Layout>("readings", LAYOUTS),
    "Shape of the target table: `readings` (`sensor_readings`: timestamp, device_id, sensor_type, value, " +
      "metadata, source columns) or `telemetry` (the iotDashboard's `telemetry`: time, device_id, metric, value, " +
      "unit; docs/data.md). `telemetry` also changes the defaults of the settings that say so.",
  ),
  table: setting(
    "TABLE_NAME",
    "database",
    tableName("sensor_readings"),
    "Target table: a plain SQL identifier (letters, digits, `_`, at most 63 characters), optionally `schema.table`.",
    { layoutDefaults: { telemetry: "telemetry" } },
  ),
  enableTimescale: setting(
    "ENABLE_TIMESCALE",
    "database",
    bool(false),
    "Make the table a TimescaleDB hypertable on its time column (needs the timescaledb extension on the server).",
  ),
  dbPoolSize: setting("DB_POOL_SIZE", "database", int(4, 2, 100), "Size of the PostgreSQL connection pool."),
  writeConcurrency: setting(
    "WRITE_CONCURRENCY",
    "database",
    int(2, 1, 16),
    "Batches written at the same time, each on its own connection; below DB_POOL_SIZE.",
  ),
} as const;

/** TimescaleDB settings. */
export const TIMESCALE = {
  timescaleChunkInterval: setting(
    "TIMESCALE_CHUNK_INTERVAL",
    "timescale",
    interval(),
    "Time range of each new chunk; unset keeps TimescaleDB's own (7 days). Applied at every start.",
    { example: "1 day" },
  ),
  timescaleCompressAfter: setting(
    "TIMESCALE_COMPRESS_AFTER",
    "timescale",
    interval(),
    "Compress chunks older than this (segmented by device and sensor); unset: no compression policy is set.",
    { example: "7 days" },
  ),
  timescaleRetainFor: setting(
    "TIMESCALE_RETAIN_FOR",
    "timescale",
    interval(),
    "Drop chunks older than this; unset keeps everything.",
    { example: "1 year" },
  ),
} as const;
