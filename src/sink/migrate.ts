/**
 * A small migration runner over `db/migrations/NNNN_name.up.sql` / `.down.sql`.
 * History lives in `db_writer_migrations` (in the table's schema), with a
 * checksum per file; an edited, already-applied file is an error. Each file
 * runs in its own transaction, under an advisory lock so that instances
 * starting together apply each migration exactly once.
 */
import type { TableName, TimescaleSettings } from "../config.ts";
import { tableLabel } from "../config.ts";
import { MigrationError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { quoteTable, type Sql } from "./client.ts";
import { timescaleHint, timescalePolicyStatements } from "./timescale.ts";

/** One migration as found on disk. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly up: string;
  readonly down: string | undefined;
  readonly checksum: string;
}

/** One line of `migrate status`. */
export interface MigrationStatus {
  readonly version: number;
  readonly name: string;
  readonly applied: boolean;
  readonly appliedAt?: Date;
  /** False when the file changed after it was applied. */
  readonly unchanged: boolean;
}

const FILE_RE = /^(\d{4})_([a-z0-9_]+)\.(up|down)\.sql$/;

/** The migrations shipped with the service (also inside the compiled binary). */
export const MIGRATIONS_DIR = new URL("../../db/migrations/", import.meta.url);

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Reads and pairs the migration files in `dir`, in version order.
 * @throws {MigrationError} for a stray file name or an up file missing.
 */
export async function loadMigrations(dir: URL = MIGRATIONS_DIR): Promise<Migration[]> {
  const found = new Map<number, { name: string; up?: string; down?: string }>();
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !entry.name.endsWith(".sql")) continue;
    const m = FILE_RE.exec(entry.name);
    if (!m) throw new MigrationError(`cannot use migration file ${entry.name}: expected NNNN_name.up.sql or .down.sql`);
    const version = Number(m[1]);
    const slot = found.get(version) ?? { name: m[2]! };
    if (slot.name !== m[2]) throw new MigrationError(`migration ${m[1]} has two names: ${slot.name} and ${m[2]}`);
    const text = await Deno.readTextFile(new URL(entry.name, dir));
    if (m[3] === "up") slot.up = text;
    else slot.down = text;
    found.set(version, slot);
  }
  const list: Migration[] = [];
  for (const [version, slot] of [...found].sort((a, b) => a[0] - b[0])) {
    if (slot.up === undefined) throw new MigrationError(`migration ${version} (${slot.name}) has no .up.sql file`);
    list.push({ version, name: slot.name, up: slot.up, down: slot.down, checksum: await sha256(slot.up) });
  }
  return list;
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
    },
  ) {
    const t = opts.table;
    this.#target = tableLabel(t);
    const schemaPrefix = t.schema ? `"${t.schema}".` : "";
    this.#history = `${schemaPrefix}db_writer_migrations`;
    this.#vars = { table: quoteTable(t), schema_prefix: schemaPrefix, table_name: t.name };
  }

  /** Renders `{{table}}`, `{{schema_prefix}}` and `{{index:suffix}}` placeholders. */
  render(text: string): string {
    return text.replace(/\{\{([a-z_]+)(?::([a-z_]+))?\}\}/g, (all, key: string, arg?: string) => {
      if (key === "index" && arg) return `"${`${this.opts.table.name}_${arg}`.slice(0, 63)}"`;
      const v = this.#vars[key];
      if (v === undefined) throw new MigrationError(`unknown placeholder ${all} in a migration`);
      return v;
    });
  }

  /** Applied and pending migrations, with checksum verification. */
  async status(): Promise<MigrationStatus[]> {
    return await this.#locked(async (conn) => {
      const applied = await this.#applied(conn);
      return this.opts.migrations.map((m) => {
        const row = applied.get(m.version);
        return {
          version: m.version,
          name: m.name,
          applied: row !== undefined,
          appliedAt: row?.applied_at,
          unchanged: row === undefined || row.checksum === m.checksum,
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
      if (this.opts.enableTimescale && applied.has(2) && !(await this.#isHypertable(conn))) {
        const m = this.opts.migrations.find((x) => x.version === 2);
        if (m) await this.#exec(conn, m, this.render(m.up));
      }
      if (this.opts.enableTimescale && this.opts.timescale) await this.#applyPolicies(conn, this.opts.timescale);
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

  /** Brings chunk interval, compression and retention in line with the settings, in one transaction. */
  async #applyPolicies(conn: Sql, settings: TimescaleSettings): Promise<void> {
    const [row] = await conn.unsafe(
      `SELECT compression_enabled FROM timescaledb_information.hypertables
        WHERE hypertable_schema = coalesce($1, current_schema()) AND hypertable_name = $2`,
      [this.opts.table.schema ?? null, this.opts.table.name],
    );
    const statements = timescalePolicyStatements(this.opts.table, settings, {
      compressionEnabled: row?.compression_enabled === true,
    });
    if (statements.length === 0) return;
    await conn.unsafe("BEGIN");
    try {
      for (const st of statements) await conn.unsafe(st);
      await conn.unsafe("COMMIT");
    } catch (err) {
      await conn.unsafe("ROLLBACK").catch(() => {});
      const e = err as { message?: string; code?: string };
      const hint = timescaleHint(e);
      throw new MigrationError(
        `applying the TimescaleDB settings to ${this.#target} failed: ${e.code ? `${e.code}: ` : ""}` +
          `${e.message ?? String(err)}${hint ? `; to fix: ${hint}` : ""}`,
        { cause: err },
      );
    }
    this.opts.log.info("timescaledb settings applied", { table: this.#target, ...settings });
  }

  async #isHypertable(conn: Sql): Promise<boolean> {
    const [row] = await conn.unsafe(`SELECT to_regclass('timescaledb_information.hypertables') IS NOT NULL AS ok`);
    if (!row?.ok) return false;
    const found = await conn.unsafe(
      `SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_schema = coalesce($1, current_schema()) AND hypertable_name = $2`,
      [this.opts.table.schema ?? null, this.opts.table.name],
    );
    return found.length > 0;
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
