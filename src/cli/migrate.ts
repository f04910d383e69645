/**
 * `db-writer migrate up | down [N] | status`.
 */
import type { Config } from "../config/load.ts";
import { UsageError } from "../errors.ts";
import { logger, printLine } from "../log.ts";
import { openPostgres } from "../sink/client.ts";
import { tableLabel } from "../sink/table.ts";
import { loadMigrations } from "../sink/migrations/files.ts";
import { type MigrationStatus, Migrator } from "../sink/migrations/runner.ts";
import { databaseLabel } from "../config/redact.ts";

/** Runs a migrate subcommand; resolves with the exit code. */
export async function runMigrate(config: Config, args: readonly string[]): Promise<number> {
  const [action, count, ...extra] = args;
  if (action === undefined) throw new UsageError("migrate: missing action; expected up, down or status");
  if (!["up", "down", "status"].includes(action)) {
    throw new UsageError(`migrate: unknown action ${JSON.stringify(action)}; expected up, down or status`);
  }
  if (extra.length > 0 || (count !== undefined && action !== "down")) {
    const stray = action === "down" ? extra : [count!, ...extra];
    throw new UsageError(`migrate ${action}: unexpected argument(s) ${stray.join(" ")}`);
  }
  let steps = 1;
  if (count !== undefined) {
    if (!/^\d+$/.test(count) || Number(count) < 1) {
      throw new UsageError(`migrate down: N must be a positive whole number, got ${JSON.stringify(count)}`);
    }
    steps = Number(count);
  }
  await using sql = openPostgres(config.databaseUrl, { max: 2 });
  {
    const migrator = new Migrator(sql, {
      table: config.table,
      enableTimescale: config.enableTimescale,
      timescale: config.timescale,
      migrations: await loadMigrations(),
      log: logger("migrate"),
    });
    const table = tableLabel(config.table);
    if (action === "status") {
      const list = await migrator.status();
      printLine(`database ${databaseLabel(config.databaseUrl)}, table ${table}`);
      for (const s of list) printLine(statusLine(s));
      return 0;
    }
    const done = action === "up" ? await migrator.up() : await migrator.down(steps);
    printLine(
      done.length === 0
        ? `${table}: nothing to ${action === "up" ? "apply" : "revert"}`
        : `${table}: ${action === "up" ? "applied" : "reverted"} ${done.join(", ")}`,
    );
    return 0;
  }
}

/** One line of `migrate status`: name, state (and when), and whether the file changed since. */
export function statusLine(s: MigrationStatus): string {
  const state = s.skipped
    ? "skipped (ENABLE_TIMESCALE=false)"
    : s.catchUp
    ? "pending (recorded while ENABLE_TIMESCALE=false; `migrate up` makes the table a hypertable)"
    : s.applied
    ? `applied ${s.appliedAt?.toISOString() ?? ""}`
    : "pending";
  return `${String(s.version).padStart(4, "0")}_${s.name}  ${state}${s.unchanged ? "" : "  EDITED SINCE APPLIED"}`;
}
