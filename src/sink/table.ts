/** The target table's name, validated as plain SQL identifiers, and its quoted forms. */

/** The target table: plain SQL identifiers (letters, digits, `_`), optionally with a schema. */
export interface TableName {
  readonly schema?: string;
  readonly name: string;
}

/** A safely quoted `"schema"."table"` (names are validated identifiers). */
export function quoteTable(table: TableName): string {
  const q = (s: string) => `"${s.replaceAll('"', '""')}"`;
  return table.schema ? `${q(table.schema)}.${q(table.name)}` : q(table.name);
}

/** `schema.table` as written in TABLE_NAME (for messages, not SQL). */
export function tableLabel(table: TableName): string {
  return table.schema ? `${table.schema}.${table.name}` : table.name;
}

/** PostgreSQL keeps the first 63 bytes of an identifier (NAMEDATALEN - 1). */
const MAX_IDENTIFIER = 63;

/**
 * The name of one of the table's indexes: `<table>_<suffix>` when that fits
 * in 63 bytes (table names are ASCII), otherwise its first 54 characters, `_`
 * and 8 hex digits of a hash of the whole name. PostgreSQL would cut a longer
 * name to 63 bytes, where it can equal the table's own name (a 63-character
 * table) or another index's, and `CREATE INDEX IF NOT EXISTS` then silently
 * creates nothing.
 */
export function indexName(table: TableName, suffix: string): string {
  const full = `${table.name}_${suffix}`;
  if (full.length <= MAX_IDENTIFIER) return full;
  return `${full.slice(0, MAX_IDENTIFIER - 9)}_${fnv1a(full)}`;
}

/** The 32-bit FNV-1a hash of an ASCII string, as 8 hex digits. */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0");
}

/** The suffix of the idempotency index, the unique key on (source_stream, source_id, "timestamp"). */
export const SOURCE_KEY_INDEX = "source_key";
