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
