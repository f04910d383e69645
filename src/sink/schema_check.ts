/**
 * The start-up check that the table has its idempotency key: a unique index
 * on exactly (source_stream, source_id, "timestamp"), which every
 * `ON CONFLICT` of the writer names. Without it a redelivered entry would
 * become a second row, and the conflict clause fails with 42P10.
 */
import { SchemaError } from "../errors.ts";
import type { Sql } from "./client.ts";
import { indexName, quoteTable, SOURCE_KEY_INDEX, tableLabel, type TableName } from "./table.ts";

/** The statement that creates the idempotency index (for messages). */
export function createKeyStatement(table: TableName): string {
  return `CREATE UNIQUE INDEX "${indexName(table, SOURCE_KEY_INDEX)}" ON ${
    quoteTable(table)
  } (source_stream, source_id, "timestamp")`;
}

/**
 * Resolves when the table has the idempotency index, or does not exist (yet:
 * writing to it then waits, as for any schema problem).
 * @throws {SchemaError} when the table exists without it.
 */
export async function checkIdempotencyKey(sql: Sql, table: TableName): Promise<void> {
  const [row] = await sql.unsafe(
    `SELECT c.oid IS NOT NULL AS table_exists,
            EXISTS (
              SELECT 1 FROM pg_index i
               WHERE i.indrelid = c.oid AND i.indisunique AND i.indisvalid AND i.indpred IS NULL
                 AND i.indnkeyatts = 3
                 AND (SELECT array_agg(a.attname::text ORDER BY a.attname::text) FROM pg_attribute a
                       WHERE a.attrelid = c.oid AND a.attnum = ANY (i.indkey::int2[]))
                     = ARRAY['source_id', 'source_stream', 'timestamp']
            ) AS has_key
       FROM (SELECT to_regclass($1) AS oid) c`,
    [quoteTable(table)],
  );
  if (!row?.table_exists || row.has_key) return;
  throw new SchemaError(
    `table ${tableLabel(table)} has no unique index on (source_stream, source_id, "timestamp") ` +
      `(expected index ${indexName(table, SOURCE_KEY_INDEX)}): without it a redelivered entry becomes a second row; ` +
      `create it with: ${createKeyStatement(table)}`,
  );
}
