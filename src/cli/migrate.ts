/**
 * `db-writer migrate up | down [N] | status`.
 */
import type { Config } from "../config/load.ts";
import { MigrationError, UsageError } from "../errors.ts";
import { logger, printLine } from "../log.ts";
import { openPostgres } from "../sink/client.ts";
import { tableLabel } from "../sink/table.ts";
import { migratorFor, ownsTable, prepareTable } from "../sink/migrations/prepare.ts";
import { tableExists, telemetryTableProblems } from "../sink/telemetry_schema.ts";
import type { MigrationStatus } from "../sink/migrations/runner.ts";
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
    const log = logger("migrate");
    const table = tableLabel(config.table);
    if (
      config.tableLayout !== "readings" && await tableExists(sql, config.table) && !await ownsTable(sql, config.table)
    ) {
      // A table db-writer did not create: never altered, no history table beside it.
      if (action === "down") throw new MigrationError(`${table} was not created by db-writer; nothing to revert`);
      const problems = await telemetryTableProblems(sql, config.table);
      if (action === "status") printLine(`database ${databaseLabel(config.databaseUrl)}, table ${table}`);
      printLine(
        `${table}: not created by db-writer, so no migration applies and nothing was changed; ${
          problems.length === 0 ? "it has what db-writer needs" : `it cannot be written: ${problems.join("; ")}`
        }`,
      );
      return problems.length === 0 ? 0 : 1;
    }
    const migrator = await migratorFor(sql, config, log);
    if (action === "status") {
      const list = await migrator.status();
      printLine(`database ${databaseLabel(config.databaseUrl)}, table ${table}`);
      for (const s of list) printLine(statusLine(s));
      return 0;
    }
    const done = action === "up"
      ? (await prepareTable(sql, config, log, true) as { applied: string[] }).applied
      : await migrator.down(steps);
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
