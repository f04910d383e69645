/**
 * The PostgreSQL connection pool (postgres.js behind this one module).
 */
import postgres from "postgres";
import type { TableName } from "../config.ts";
import { succeedsWithin } from "../retry.ts";
import { postgresTls } from "../tls.ts";

/** A connection pool with tagged-template and `unsafe` queries. */
export type Sql = postgres.Sql;

/**
 * Opens a lazily-connecting pool; nothing touches the network until the first
 * query. TLS follows the URL's `sslmode`, `sslrootcert`, `sslcert`, `sslkey`.
 * @throws {Error} when a TLS file named in the URL cannot be read.
 */
export function connectPostgres(url: string, opts: { max?: number; connectTimeoutSec?: number } = {}): Sql {
  const tls = postgresTls(url);
  return postgres(tls.url, {
    ssl: tls.ssl,
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

/** Answers whether the database responds, within `timeoutMs`; `onError` learns why not. */
export function pingPostgres(sql: Sql, timeoutMs = 2000, onError?: (err: unknown) => void): Promise<boolean> {
  return succeedsWithin(
    sql`select 1`.execute().catch((err) => {
      onError?.(err);
      throw err;
    }),
    timeoutMs,
  );
}
