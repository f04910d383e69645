/**
 * The PostgreSQL connection pool (postgres.js behind this one module).
 */
import postgres from "postgres";
import type { TableName } from "../config.ts";
import { succeedsWithin } from "../retry.ts";

/** A connection pool with tagged-template and `unsafe` queries. */
export type Sql = postgres.Sql;

/** Opens a lazily-connecting pool; nothing touches the network until the first query. */
export function connectPostgres(url: string, opts: { max?: number; connectTimeoutSec?: number } = {}): Sql {
  return postgres(url, {
    max: opts.max ?? 4,
    connect_timeout: opts.connectTimeoutSec ?? 10,
    idle_timeout: 60,
    max_lifetime: 60 * 30,
    onnotice: () => {},
    connection: { application_name: "db-writer" },
  });
}

/** Closes the pool, waiting at most `timeoutSec` for running queries. */
export async function closePostgres(sql: Sql, timeoutSec = 1): Promise<void> {
  await sql.end({ timeout: timeoutSec });
}

/** A safely quoted `"schema"."table"` (names are validated identifiers). */
export function quoteTable(table: TableName): string {
  const q = (s: string) => `"${s.replaceAll('"', '""')}"`;
  return table.schema ? `${q(table.schema)}.${q(table.name)}` : q(table.name);
}

/** Answers whether the database responds, within `timeoutMs`. */
export function pingPostgres(sql: Sql, timeoutMs = 2000): Promise<boolean> {
  return succeedsWithin(sql`select 1`.execute(), timeoutMs);
}
