/**
 * TimescaleDB policies from the settings: chunk interval, compression and
 * retention. The statements are built here as text (pure, tested as such)
 * and run by the migration runner after the migrations whenever
 * ENABLE_TIMESCALE is on, so a changed setting takes effect at the next start.
 */
import { MigrationError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import type { Sql } from "../client.ts";
import { quoteTable, tableLabel, type TableName } from "../table.ts";

/** Optional TimescaleDB policies, each a PostgreSQL interval like `7 days`, or undefined for none. */
export interface TimescaleSettings {
  readonly chunkInterval?: string;
  readonly compressAfter?: string;
  readonly retainFor?: string;
}

/** What the runner found on the server before building the statements. */
export interface HypertableState {
  /** Compression is already turned on for the hypertable (its segment/order settings are then kept). */
  readonly compressionEnabled: boolean;
}

/** Columns compressed chunks are segmented by: the usual filters of a query. */
export const COMPRESS_SEGMENT_BY = "device_id, sensor_type";
/** Order inside a compressed segment. */
export const COMPRESS_ORDER_BY = '"timestamp" DESC';

/** How compressed chunks are segmented and ordered (per table layout). */
export interface CompressionColumns {
  readonly segmentBy: string;
  readonly orderBy: string;
}

/** The `readings` layout's compression columns. */
export const READINGS_COMPRESSION: CompressionColumns = { segmentBy: COMPRESS_SEGMENT_BY, orderBy: COMPRESS_ORDER_BY };

/**
 * The statements that bring the hypertable's policies in line with `settings`.
 * A setting left unset changes nothing on the server. Intervals come validated
 * from the configuration (`7 days`), so quoting them as literals is safe.
 */
export function timescalePolicyStatements(
  table: TableName,
  settings: TimescaleSettings,
  state: HypertableState,
  columns: CompressionColumns = READINGS_COMPRESSION,
): string[] {
  const t = quoteTable(table);
  const regclass = `'${t.replaceAll("'", "''")}'::regclass`;
  const out: string[] = [];
  if (settings.chunkInterval !== undefined) {
    // Applies to chunks created from now on; existing chunks keep their size.
    out.push(`SELECT set_chunk_time_interval(${regclass}, INTERVAL '${settings.chunkInterval}')`);
  }
  if (settings.compressAfter !== undefined) {
    if (!state.compressionEnabled) {
      out.push(
        `ALTER TABLE ${t} SET (timescaledb.compress, ` +
          `timescaledb.compress_segmentby = '${columns.segmentBy}', ` +
          `timescaledb.compress_orderby = '${columns.orderBy.replaceAll("'", "''")}')`,
      );
    }
    // Remove and add: add_*_policy(if_not_exists) keeps an older interval.
    out.push(`SELECT remove_compression_policy(${regclass}, if_exists => true)`);
    out.push(`SELECT add_compression_policy(${regclass}, INTERVAL '${settings.compressAfter}')`);
  }
  if (settings.retainFor !== undefined) {
    out.push(`SELECT remove_retention_policy(${regclass}, if_exists => true)`);
    out.push(`SELECT add_retention_policy(${regclass}, INTERVAL '${settings.retainFor}')`);
  }
  return out;
}

/**
 * What an operator should do about a failed TimescaleDB step, from the
 * server's error (SQLSTATE and message); undefined when there is no better advice.
 */
export function timescaleHint(err: { code?: string; message?: string }): string | undefined {
  const message = err.message ?? "";
  if (/timescaledb extension is not installed|extension "timescaledb" is not available/i.test(message)) {
    return "install TimescaleDB on the PostgreSQL server (package timescaledb-2-postgresql-<version>), " +
      "add timescaledb to shared_preload_libraries and restart PostgreSQL, or set ENABLE_TIMESCALE=false";
  }
  if (/shared_preload_libraries|must be preloaded/i.test(message)) {
    return "add timescaledb to shared_preload_libraries in postgresql.conf and restart PostgreSQL";
  }
  if (err.code === "42501") {
    return "the database user may not create the extension: have a superuser run " +
      "CREATE EXTENSION timescaledb; in this database once, then start again";
  }
  if (err.code === "42883") {
    return "a TimescaleDB function is missing: the extension is older than 2.0 or not created in this database; " +
      "upgrade it (ALTER EXTENSION timescaledb UPDATE) or create it";
  }
  return undefined;
}

/** True when `table` is a TimescaleDB hypertable (false where TimescaleDB is not installed). */
export async function isHypertable(conn: Sql, table: TableName): Promise<boolean> {
  const [row] = await conn.unsafe(`SELECT to_regclass('timescaledb_information.hypertables') IS NOT NULL AS ok`);
  if (!row?.ok) return false;
  const found = await conn.unsafe(
    `SELECT 1 FROM timescaledb_information.hypertables
      WHERE hypertable_schema = coalesce($1, current_schema()) AND hypertable_name = $2`,
    [table.schema ?? null, table.name],
  );
  return found.length > 0;
}

/**
 * Brings chunk interval, compression and retention of `table` in line with
 * `settings`, in one transaction.
 * @throws {MigrationError} with advice when a step fails.
 */
export async function applyTimescalePolicies(
  conn: Sql,
  table: TableName,
  settings: TimescaleSettings,
  log: Logger,
  columns: CompressionColumns = READINGS_COMPRESSION,
): Promise<void> {
  const [row] = await conn.unsafe(
    `SELECT compression_enabled FROM timescaledb_information.hypertables
      WHERE hypertable_schema = coalesce($1, current_schema()) AND hypertable_name = $2`,
    [table.schema ?? null, table.name],
  );
  const statements = timescalePolicyStatements(table, settings, {
    compressionEnabled: row?.compression_enabled === true,
  }, columns);
  if (statements.length === 0) return;
  await conn.unsafe("BEGIN");
  try {
    for (const st of statements) await conn.unsafe(st);
    await conn.unsafe("COMMIT");
  } catch (err) {
    await conn.unsafe("ROLLBACK").catch(() => {});
    const e = err as { message?: string; code?: string };
    const hint = timescaleHint(e);
    throw new MigrationError(
      `applying the TimescaleDB settings to ${tableLabel(table)} failed: ${e.code ? `${e.code}: ` : ""}` +
        `${e.message ?? String(err)}${hint ? `; to fix: ${hint}` : ""}`,
      { cause: err },
    );
  }
  log.info("timescaledb settings applied", { table: tableLabel(table), ...settings });
}
