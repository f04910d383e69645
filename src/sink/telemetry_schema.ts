/**
 * What db-writer needs of an existing `telemetry` table it did not create:
 * the five columns with usable types, no other column it would leave empty
 * that must be filled, a unique key on (time, device_id, metric) for ON
 * CONFLICT, and the right to insert and select. Reads the catalog only;
 * changes nothing.
 */
import type { Sql } from "./client.ts";
import { quoteTable, type TableName } from "./table.ts";

const TEXT = ["text", "character varying", "character"];
/** Column → the types it may have (as `format_type` names them, without a length). */
const NEEDED: Readonly<Record<string, { types: readonly string[]; want: string }>> = {
  time: { types: ["timestamp with time zone"], want: "timestamptz" },
  device_id: { types: TEXT, want: "text" },
  metric: { types: TEXT, want: "text" },
  value: { types: ["double precision", "real", "numeric"], want: "double precision" },
  unit: { types: TEXT, want: "text" },
};
const KEY = ["device_id", "metric", "time"];

/** True when `table` exists (any relation kind). */
export async function tableExists(sql: Sql, table: TableName): Promise<boolean> {
  const [row] = await sql.unsafe(`SELECT to_regclass($1) IS NOT NULL AS ok`, [quoteTable(table)]);
  return row?.ok === true;
}

/** Everything that keeps db-writer from writing into `table`, one sentence each; empty when it can. */
export async function telemetryTableProblems(sql: Sql, table: TableName): Promise<string[]> {
  const t = quoteTable(table);
  const columns = await sql.unsafe(
    `SELECT a.attname AS name, regexp_replace(format_type(a.atttypid, a.atttypmod), '\\(.*\\)', '') AS type,
            a.attnotnull AS not_null, a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '' AS filled
       FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`,
    [t],
  );
  const found = new Map(columns.map((c) => [String(c.name), c]));
  const problems: string[] = [];
  for (const [name, need] of Object.entries(NEEDED)) {
    const c = found.get(name);
    if (!c) problems.push(`column "${name}" is missing (expected ${need.want})`);
    else if (!need.types.includes(String(c.type))) {
      problems.push(`column "${name}" is ${c.type}, expected ${need.want}`);
    }
  }
  for (const [name, c] of found) {
    if (!(name in NEEDED) && c.not_null && !c.filled) {
      problems.push(`column "${name}" is NOT NULL without a default, and db-writer does not fill it`);
    }
  }
  const keys = await sql.unsafe(
    `SELECT array_agg(a.attname::text ORDER BY a.attname) AS cols
       FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
      WHERE i.indrelid = $1::regclass AND i.indisunique AND i.indpred IS NULL
      GROUP BY i.indexrelid`,
    [t],
  );
  if (!keys.some((k) => JSON.stringify(k.cols) === JSON.stringify(KEY))) {
    problems.push(
      `no primary key or unique index on exactly ("time", device_id, metric), which db-writer needs ` +
        `to store a redelivered reading once`,
    );
  }
  const [rights] = await sql.unsafe(
    `SELECT has_table_privilege($1, 'INSERT') AS ins, has_table_privilege($1, 'SELECT') AS sel`,
    [t],
  );
  if (!rights?.ins || !rights?.sel) problems.push(`the database user may not INSERT into and SELECT from it`);
  return problems;
}
