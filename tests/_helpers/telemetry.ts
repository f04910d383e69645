/**
 * Test helpers for the `telemetry` layout: the iotDashboard's `devices` and
 * `telemetry` tables as that project's migrations create them, in a test's
 * own schema, and a dump of their catalog entries to compare before/after.
 */
import type postgres from "postgres";

/** Creates `devices` and `telemetry` in `schema`, upstream-shaped, with `devices` registered. */
export async function createUpstreamTables(sql: postgres.Sql, schema: string, devices: string[]): Promise<void> {
  await sql.unsafe(`
    CREATE TABLE "${schema}".devices (
      id TEXT PRIMARY KEY, name TEXT NOT NULL, location TEXT, is_active BOOLEAN DEFAULT true,
      created_at TIMESTAMPTZ DEFAULT now());
    CREATE TABLE "${schema}".telemetry (
      time TIMESTAMPTZ NOT NULL,
      device_id TEXT NOT NULL REFERENCES "${schema}".devices(id) ON DELETE CASCADE,
      metric TEXT NOT NULL, value DOUBLE PRECISION NOT NULL, unit TEXT,
      PRIMARY KEY (time, device_id, metric));
    CREATE INDEX idx_telemetry_device_time ON "${schema}".telemetry (device_id, time);`);
  for (const id of devices) await registerDevice(sql, schema, id);
}

/** Adds a device to the registry. */
export async function registerDevice(sql: postgres.Sql, schema: string, id: string): Promise<void> {
  await sql.unsafe(`INSERT INTO "${schema}".devices (id, name) VALUES ($1, $1)`, [id]);
}

/** Every relation, column, index and constraint of `schema`, as one comparable string. */
export async function catalogDump(sql: postgres.Sql, schema: string): Promise<string> {
  const rows = await sql.unsafe(
    `SELECT 'rel ' || c.relname || ' ' || c.relkind::text || ' ' || coalesce(array_to_string(c.reloptions, ','), '') AS line
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1
     UNION ALL
     SELECT 'col ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' ||
            a.attnotnull || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE n.nspname = $1 AND a.attnum > 0 AND NOT a.attisdropped
     UNION ALL
     SELECT 'idx ' || pg_get_indexdef(i.indexrelid)
       FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1
     UNION ALL
     SELECT 'con ' || conname || ' ' || pg_get_constraintdef(oid)
       FROM pg_constraint WHERE connamespace = (SELECT oid FROM pg_namespace WHERE nspname = $1)
     ORDER BY 1`,
    [schema],
  );
  return rows.map((r) => r.line).join("\n");
}
