/**
 * Bringing the target table to what the layout needs, before consuming or
 * on `migrate up`. With `readings` the migrations run as always. With
 * `telemetry` a table db-writer did not create (no migration recorded for
 * it) is never altered: it is checked, and every problem named; only a
 * missing table, or one db-writer created, is migrated.
 */
import { MigrationError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import type { Layout } from "../layout.ts";
import type { Sql } from "../client.ts";
import { tableLabel, type TableName } from "../table.ts";
import { loadMigrations, migrationsDir } from "./files.ts";
import { historyTable, Migrator } from "./runner.ts";
import type { TimescaleSettings } from "./timescale.ts";
import { tableExists, telemetryTableProblems } from "../telemetry_schema.ts";

/** What a layout's table needs from the configuration. */
export interface TableSettings {
  readonly tableLayout: Layout;
  readonly table: TableName;
  readonly enableTimescale: boolean;
  readonly timescale?: TimescaleSettings;
}

/** A migrator for the layout's table, over its own migrations. */
export async function migratorFor(sql: Sql, s: TableSettings, log: Logger): Promise<Migrator> {
  return new Migrator(sql, {
    table: s.table,
    enableTimescale: s.enableTimescale,
    timescale: s.timescale,
    migrations: await loadMigrations(migrationsDir(s.tableLayout)),
    log,
    ...(s.tableLayout === "telemetry"
      ? { compression: { segmentBy: "device_id, metric", orderBy: '"time" DESC' } }
      : {}),
  });
}

/** True when db-writer's migrations were applied to `table` (it created the table, or was asked to migrate it). */
export async function ownsTable(sql: Sql, table: TableName): Promise<boolean> {
  const history = historyTable(table);
  const [found] = await sql.unsafe(`SELECT to_regclass($1) IS NOT NULL AS ok`, [history]);
  if (!found?.ok) return false;
  const rows = await sql.unsafe(`SELECT 1 FROM ${history} WHERE target = $1 LIMIT 1`, [tableLabel(table)]);
  return rows.length > 0;
}

/** What {@link prepareTable} did. */
export type Prepared =
  | { readonly kind: "migrated"; readonly applied: string[] }
  | { readonly kind: "checked" }
  /** Readings layout without MIGRATE_ON_START: nothing was done. */
  | { readonly kind: "left" };

/**
 * Migrates (when `migrate`) or checks the table.
 * @throws {MigrationError} naming every problem of a table it cannot write, or one missing while `migrate` is off.
 */
export async function prepareTable(sql: Sql, s: TableSettings, log: Logger, migrate: boolean): Promise<Prepared> {
  if (s.tableLayout === "readings") {
    return migrate ? { kind: "migrated", applied: await (await migratorFor(sql, s, log)).up() } : { kind: "left" };
  }
  const exists = await tableExists(sql, s.table);
  if (!exists || await ownsTable(sql, s.table)) {
    if (!migrate) {
      if (!exists) {
        throw new MigrationError(
          `table ${tableLabel(s.table)} does not exist; create it with db-writer migrate up ` +
            `(or the iotDashboard's own migrations), or set MIGRATE_ON_START=true`,
        );
      }
    } else {
      const applied = await (await migratorFor(sql, s, log)).up();
      await ensureWritable(sql, s.table);
      return { kind: "migrated", applied };
    }
  }
  await ensureWritable(sql, s.table);
  return { kind: "checked" };
}

async function ensureWritable(sql: Sql, table: TableName): Promise<void> {
  const problems = await telemetryTableProblems(sql, table);
  if (problems.length > 0) {
    throw new MigrationError(
      `cannot write into ${tableLabel(table)} (left as it is: db-writer does not alter a table it did not ` +
        `create): ${problems.join("; ")}`,
    );
  }
}
