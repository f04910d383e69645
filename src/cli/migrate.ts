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
      printLine(
        `${table}: not created by db-writer, so no migration applies and nothing was changed; ${
          problems.length === 0 ? "it has what db-writer needs" : `it cannot be written: ${problems.join("; ")}`
        }`,
      );
      return problems.length === 0 ? 0 : 1;
    }
    const migrator = await migratorFor(sql, config, log);
    if (action === "status") {
      for (const s of await migrator.status()) {
        const state = s.applied ? `applied ${s.appliedAt?.toISOString() ?? ""}` : "pending";
        printLine(
          `${String(s.version).padStart(4, "0")}_${s.name}  ${state}${s.unchanged ? "" : "  EDITED SINCE APPLIED"}`,
        );
      }
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
