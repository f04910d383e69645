/**
 * A small migration runner over `db/migrations/NNNN_name.up.sql` / `.down.sql`.
 * History lives in `db_writer_migrations` (in the table's schema), with a
 * checksum per file; an edited, already-applied file is an error. Each file
 * runs in its own transaction, under an advisory lock so that instances
 * starting together apply each migration exactly once.
 */
import { MigrationError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import type { Sql } from "../client.ts";
import { indexName, quoteTable, tableLabel, type TableName } from "../table.ts";
import type { Migration } from "./files.ts";
import {
  applyTimescalePolicies,
  type CompressionColumns,
  isHypertable,
  timescaleHint,
  type TimescaleSettings,
} from "./timescale.ts";

/** The migration history table beside `table` (in its schema). */
export function historyTable(table: TableName): string {
  return `${table.schema ? `"${table.schema}".` : ""}db_writer_migrations`;
}

/** One line of `migrate status`. */
export interface MigrationStatus {
  readonly version: number;
  readonly name: string;
  readonly applied: boolean;
  readonly appliedAt?: Date;
  /** False when the file changed after it was applied. */
  readonly unchanged: boolean;
  /**
   * A TimescaleDB migration and TimescaleDB is off: it is (or will be)
   * recorded as applied but does nothing.
   */
  readonly skipped: boolean;
  /** Recorded as applied while TimescaleDB was off, now on, and the table is not a hypertable yet. */
  readonly catchUp: boolean;
}

/** True for a migration that only matters with TimescaleDB (ENABLE_TIMESCALE). */
export function isTimescaleMigration(m: { readonly name: string }): boolean {
  return m.name.includes("timescale");
}

/** Applies, reverts and reports migrations for one target table. */
export class Migrator {
  readonly #target: string;
  readonly #history: string;
  readonly #vars: Record<string, string>;

  constructor(
    private readonly sql: Sql,
    private readonly opts: {
      readonly table: TableName;
      readonly enableTimescale: boolean;
      /** Chunk interval, compression and retention, applied after the migrations when TimescaleDB is on. */
      readonly timescale?: TimescaleSettings;
      readonly migrations: readonly Migration[];
      readonly log: Logger;
      /** How the layout's chunks are compressed (the `readings` columns when absent). */
      readonly compression?: CompressionColumns;
    },
  ) {
    const t = opts.table;
    this.#target = tableLabel(t);
    const schemaPrefix = t.schema ? `"${t.schema}".` : "";
    this.#history = historyTable(t);
    this.#vars = { table: quoteTable(t), schema_prefix: schemaPrefix, table_name: t.name };
  }

  /** Renders `{{table}}`, `{{schema_prefix}}` and `{{index:suffix}}` placeholders. */
  render(text: string): string {
    return text.replace(/\{\{([a-z_]+)(?::([a-z_]+))?\}\}/g, (all, key: string, arg?: string) => {
      if (key === "index" && arg) return `"${indexName(this.opts.table, arg)}"`;
      const v = this.#vars[key];
      if (v === undefined) throw new MigrationError(`unknown placeholder ${all} in a migration`);
      return v;
    });
  }

  /** Applied and pending migrations, with checksum verification. */
  async status(): Promise<MigrationStatus[]> {
    return await this.#locked(async (conn) => {
      const applied = await this.#applied(conn);
      const on = this.opts.enableTimescale;
      const hypertable = on && applied.size > 0 ? await isHypertable(conn, this.opts.table) : false;
      return this.opts.migrations.map((m) => {
        const row = applied.get(m.version);
        const timescale = isTimescaleMigration(m);
        return {
          version: m.version,
          name: m.name,
          applied: row !== undefined,
          appliedAt: row?.applied_at,
          unchanged: row === undefined || row.checksum === m.checksum,
          skipped: timescale && !on,
          catchUp: timescale && on && row !== undefined && !hypertable,
        };
      });
    });
  }

  /**
   * Applies every pending migration in order; returns their names.
   * @throws {MigrationError} when an applied file was edited or a migration fails.
   */
  async up(): Promise<string[]> {
    return await this.#locked(async (conn) => {
      const applied = await this.#applied(conn);
      this.#verify(applied);
      const done: string[] = [];
      for (const m of this.opts.migrations) {
        if (applied.has(m.version)) continue;
        await this.#run(conn, m, "up");
        done.push(`${String(m.version).padStart(4, "0")}_${m.name}`);
      }
      if (this.opts.enableTimescale) await this.#timescaleCatchUp(conn, applied);
      if (this.opts.enableTimescale && this.opts.timescale) {
        await applyTimescalePolicies(conn, this.opts.table, this.opts.timescale, this.opts.log, this.opts.compression);
      }
      return done;
    });
  }

  /**
   * Reverts the last `steps` applied migrations, newest first; returns their names.
   * @throws {MigrationError} when a down file is missing or fails.
   */
  async down(steps = 1): Promise<string[]> {
    return await this.#locked(async (conn) => {
      const applied = await this.#applied(conn);
      this.#verify(applied);
      const targets = this.opts.migrations.filter((m) => applied.has(m.version)).reverse().slice(0, steps);
      const done: string[] = [];
      for (const m of targets) {
        await this.#run(conn, m, "down");
        done.push(`${String(m.version).padStart(4, "0")}_${m.name}`);
      }
      return done;
    });
  }

  /**
   * A database migrated while TimescaleDB was off recorded the TimescaleDB
   * migrations as applied (they are no-ops then). Once it is on, those are
   * run again until the table is a hypertable.
   */
  async #timescaleCatchUp(conn: Sql, applied: Map<number, unknown>): Promise<void> {
    if (await isHypertable(conn, this.opts.table)) return;
    for (const m of this.opts.migrations) {
      if (applied.has(m.version) && isTimescaleMigration(m)) await this.#exec(conn, m, this.render(m.up));
    }
  }

  #verify(applied: Map<number, { checksum: string }>): void {
    for (const m of this.opts.migrations) {
      const row = applied.get(m.version);
      if (row && row.checksum !== m.checksum) {
        throw new MigrationError(
          `migration ${String(m.version).padStart(4, "0")}_${m.name}.up.sql was edited after it was applied ` +
            `to ${this.#target} (checksum ${m.checksum.slice(0, 12)}… ≠ recorded ${row.checksum.slice(0, 12)}…); ` +
            `restore the file and add a new migration instead`,
        );
      }
    }
    const known = new Set(this.opts.migrations.map((m) => m.version));
    for (const version of applied.keys()) {
      if (!known.has(version)) {
        this.opts.log.warn("database has a migration this version does not know", { version, table: this.#target });
      }
    }
  }

  async #run(conn: Sql, m: Migration, direction: "up" | "down"): Promise<void> {
    const label = `${String(m.version).padStart(4, "0")}_${m.name}.${direction}.sql`;
    if (direction === "down" && m.down === undefined) {
      throw new MigrationError(`cannot revert ${m.version} (${m.name}): ${label} does not exist`);
    }
    const body = this.render(direction === "up" ? m.up : m.down!);
    const record = () =>
      direction === "up"
        ? conn.unsafe(
          `INSERT INTO ${this.#history} (target, version, name, checksum) VALUES ($1, $2, $3, $4)`,
          [this.#target, m.version, m.name, m.checksum],
        )
        : conn.unsafe(`DELETE FROM ${this.#history} WHERE target = $1 AND version = $2`, [this.#target, m.version]);
    await this.#exec(conn, m, body, record);
    this.opts.log.info(`migration ${direction === "up" ? "applied" : "reverted"}`, {
      migration: label,
      table: this.#target,
    });
  }

  async #exec(conn: Sql, m: Migration, body: string, after?: () => Promise<unknown>): Promise<void> {
    await conn.unsafe("BEGIN");
    try {
      await conn.unsafe(`SET LOCAL db_writer.enable_timescale = '${this.opts.enableTimescale}'`);
      await conn.unsafe(body);
      if (after) await after();
      await conn.unsafe("COMMIT");
    } catch (err) {
      await conn.unsafe("ROLLBACK").catch(() => {});
      const e = err as { message?: string; code?: string };
      const hint = this.opts.enableTimescale && m.name.includes("timescale") ? timescaleHint(e) : undefined;
      throw new MigrationError(
        `migration ${String(m.version).padStart(4, "0")}_${m.name} failed on ${this.#target}: ` +
          `${e.code ? `${e.code}: ` : ""}${e.message ?? String(err)}${hint ? `; to fix: ${hint}` : ""}`,
        { cause: err },
      );
    }
  }

  async #applied(conn: Sql): Promise<Map<number, { checksum: string; applied_at: Date }>> {
    const rows = await conn.unsafe(
      `SELECT version, checksum, applied_at FROM ${this.#history} WHERE target = $1 ORDER BY version`,
      [this.#target],
    );
    return new Map(rows.map((r) => [Number(r.version), { checksum: String(r.checksum), applied_at: r.applied_at }]));
  }

  /** Runs `fn` on one reserved connection holding the migration lock for this table. */
  async #locked<T>(fn: (conn: Sql) => Promise<T>): Promise<T> {
    const conn = await this.sql.reserve();
    const key = `db-writer migrate ${this.#target}`;
    try {
      await conn`SELECT pg_advisory_lock(hashtext(${key}))`;
      try {
        if (this.opts.table.schema) await conn.unsafe(`CREATE SCHEMA IF NOT EXISTS "${this.opts.table.schema}"`);
        await conn.unsafe(
          `CREATE TABLE IF NOT EXISTS ${this.#history} (
             target     text        NOT NULL,
             version    integer     NOT NULL,
             name       text        NOT NULL,
             checksum   text        NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now(),
             PRIMARY KEY (target, version))`,
        );
        return await fn(conn as unknown as Sql);
      } finally {
        await conn`SELECT pg_advisory_unlock(hashtext(${key}))`.catch(() => {});
      }
    } finally {
      conn.release();
    }
  }
}
