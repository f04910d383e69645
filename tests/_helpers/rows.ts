/** What ended up in a test world's readings table. */
import type { World } from "./world.ts";

/** One row of the readings table, with the instant rendered exactly in UTC. */
export interface Row {
  id: number;
  utc: string;
  device_id: string;
  sensor_type: string;
  value: number;
  metadata: Record<string, unknown> | null;
  source_stream: string | null;
  source_id: string | null;
}

/** Every row of the world's table, ordered by id; `[]` while the table does not exist yet. */
export async function tableRows(world: World, where = "true"): Promise<Row[]> {
  try {
    const rows = await world.sql.unsafe(
      `SELECT id, to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS utc,
              device_id, sensor_type, value, metadata, source_stream, source_id
         FROM ${world.table} WHERE ${where} ORDER BY id`,
    );
    return rows.map((r) => ({
      id: Number(r.id),
      utc: String(r.utc),
      device_id: String(r.device_id),
      sensor_type: String(r.sensor_type),
      value: Number(r.value),
      metadata: r.metadata as Record<string, unknown> | null,
      source_stream: r.source_stream as string | null,
      source_id: r.source_id as string | null,
    }));
  } catch (err) {
    if ((err as { code?: string }).code === "42P01") return [];
    throw err;
  }
}

/** Row count and distinct (source_stream, source_id) count; zeros while the table does not exist. */
export async function rowCounts(world: World): Promise<{ rows: number; distinct: number }> {
  try {
    const [r] = await world.sql.unsafe(
      `SELECT count(*)::int AS rows, count(DISTINCT (source_stream, source_id))::int AS distinct
         FROM ${world.table}`,
    );
    return { rows: Number(r!.rows), distinct: Number(r!.distinct) };
  } catch (err) {
    if ((err as { code?: string }).code === "42P01") return { rows: 0, distinct: 0 };
    throw err;
  }
}

/** Creates `table` exactly as the previous (Python) service did, with no rows. */
export async function createPreviousServiceTable(
  world: Pick<World, "sql" | "table">,
  table = world.table,
): Promise<void> {
  await world.sql.unsafe(`
    CREATE TABLE ${table} (
      id BIGSERIAL PRIMARY KEY,
      timestamp TIMESTAMPTZ NOT NULL,
      device_id VARCHAR(100) NOT NULL,
      sensor_type VARCHAR(100) NOT NULL,
      value DOUBLE PRECISION NOT NULL,
      metadata JSONB,
      created_at TIMESTAMPTZ DEFAULT NOW()
    )`);
}
