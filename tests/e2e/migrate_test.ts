/**
 * End-to-end tests of schema migrations: `db-writer migrate …` against the
 * real PostgreSQL, checked with direct SQL; upgrading the previous service's
 * table in place; edited migration files; concurrent runs; bad usage.
 */
import assert from "node:assert/strict";
import { addEntries } from "../_helpers/streams.ts";
import { createWorld, testSql, type World } from "../_helpers/world.ts";
import { DATABASE_URL } from "../_helpers/services.ts";
import { message, runCli, spawnService, stopService } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { createPreviousServiceTable, rowCounts, tableRows } from "../_helpers/rows.ts";
import { silentLogger } from "../_helpers/logger.ts";
import { loadMigrations, MIGRATIONS_DIR } from "../../src/sink/migrations/files.ts";
import { Migrator } from "../../src/sink/migrations/runner.ts";
import { MigrationError } from "../../src/errors.ts";
import { statusLine } from "../../src/cli/migrate.ts";

const M1 = "0001_create_sensor_readings";
const M2 = "0002_timescale_hypertable";

/** Columns of the world's table: name → [data type, max length, nullable, default]. */
async function columns(world: World): Promise<Record<string, [string, number | null, string, string | null]>> {
  const rows = await world.sql`
    SELECT column_name, data_type, character_maximum_length, is_nullable, column_default
      FROM information_schema.columns
     WHERE table_schema = ${world.schema} AND table_name = 'sensor_readings'
     ORDER BY ordinal_position`;
  return Object.fromEntries(
    rows.map((r) => [r.column_name, [r.data_type, r.character_maximum_length, r.is_nullable, r.column_default]]),
  );
}

/** Unique indexes of the world's table (primary key excluded), each as its list of columns in order. */
async function uniqueIndexes(world: World): Promise<string[][]> {
  const rows = await world.sql`
    SELECT array_agg(a.attname::text ORDER BY k.ord) AS cols
      FROM pg_index i
      JOIN pg_class c ON c.oid = i.indrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
     WHERE n.nspname = ${world.schema} AND c.relname = 'sensor_readings' AND i.indisunique AND NOT i.indisprimary
     GROUP BY i.indexrelid`;
  return rows.map((r) => r.cols as string[]);
}

/** Recorded migrations for the world's table: version → how many times recorded. */
async function history(world: World): Promise<Record<number, number>> {
  const rows = await world.sql.unsafe(
    `SELECT version, count(*)::int AS n FROM "${world.schema}".db_writer_migrations
      WHERE target = $1 GROUP BY version ORDER BY version`,
    [world.table],
  );
  return Object.fromEntries(rows.map((r) => [Number(r.version), Number(r.n)]));
}

async function tableExists(world: World, name: string): Promise<boolean> {
  const [r] = await world.sql`SELECT to_regclass(${`"${world.schema}"."${name}"`}) IS NOT NULL AS ok`;
  return r!.ok === true;
}

/** The previous (Python) service's table, exactly as it created it. */
async function createOldTable(world: World): Promise<void> {
  await createPreviousServiceTable(world);
  await world.sql.unsafe(`
    INSERT INTO ${world.table} (timestamp, device_id, sensor_type, value, metadata, created_at) VALUES
      ('2025-01-01T00:00:00.5Z', 'esp32', 'temperature', 21.5, '{"room": "lab"}', '2025-01-01T00:00:01Z'),
      ('2025-01-01T00:01:00Z', 'esp32', 'humidity', 40, NULL, '2025-01-01T00:01:01Z'),
      ('2025-01-01T00:02:00Z', 'dev2', 'env:co2', -0.25, '{}', '2025-01-01T00:02:01Z')`);
}

/** Old rows as read back, including created_at, for before/after comparison. */
async function oldRows(world: World) {
  return await world.sql.unsafe(
    `SELECT id, to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS utc, device_id,
            sensor_type, value, metadata, created_at FROM ${world.table} WHERE id <= 3 ORDER BY id`,
  );
}

const EXPECTED_OLD = [
  { id: "1", utc: "2025-01-01T00:00:00.500000", device_id: "esp32", sensor_type: "temperature", value: 21.5 },
  { id: "2", utc: "2025-01-01T00:01:00.000000", device_id: "esp32", sensor_type: "humidity", value: 40 },
  { id: "3", utc: "2025-01-01T00:02:00.000000", device_id: "dev2", sensor_type: "env:co2", value: -0.25 },
];

Deno.test("migrate up creates the contract's table; again applies nothing; status; down 2 then up keeps rows", async (t) => {
  await using world = await createWorld();
  const env = world.env();

  await t.step("up", async () => {
    const out = await runCli(["migrate", "up"], env);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, new RegExp(`^${world.table}: applied ${M1}, ${M2}$`, "m"));
    const cols = await columns(world);
    assert.deepEqual(cols.id?.slice(0, 3), ["bigint", null, "NO"]);
    assert.match(cols.id?.[3] ?? "", /^nextval\(/);
    assert.deepEqual(cols.timestamp, ["timestamp with time zone", null, "NO", null]);
    assert.deepEqual(cols.device_id, ["character varying", 100, "NO", null]);
    assert.deepEqual(cols.sensor_type, ["character varying", 100, "NO", null]);
    assert.deepEqual(cols.value, ["double precision", null, "NO", null]);
    assert.deepEqual(cols.metadata, ["jsonb", null, "YES", null]);
    assert.deepEqual(cols.created_at, ["timestamp with time zone", null, "YES", "now()"]);
    assert.deepEqual(cols.source_stream, ["text", null, "YES", null]);
    assert.deepEqual(cols.source_id, ["text", null, "YES", null]);
    // One unique key over the three columns (their order is the implementation's choice).
    const keys = (await uniqueIndexes(world)).filter((c) => c.includes("source_id"));
    assert.equal(keys.length, 1, JSON.stringify(keys));
    assert.deepEqual([...keys[0]!].sort(), ["source_id", "source_stream", "timestamp"]);
    assert.deepEqual(await history(world), { 1: 1, 2: 1 });
  });

  await t.step("the unique index refuses a second row for the same entry", async () => {
    const insert = () =>
      world.sql.unsafe(
        `INSERT INTO ${world.table} ("timestamp", device_id, sensor_type, value, source_stream, source_id)
         VALUES ('2026-11-28T10:00:00Z', 'd', 's', 1, 'k', '1-0')`,
      );
    await insert();
    await assert.rejects(insert(), (err: { code?: string }) => err.code === "23505");
  });

  await t.step("up again applies nothing", async () => {
    const out = await runCli(["migrate", "up"], env);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, new RegExp(`^${world.table}: nothing to apply$`, "m"));
    assert.deepEqual(await history(world), { 1: 1, 2: 1 });
  });

  await t.step("status lists both as applied", async () => {
    const out = await runCli(["migrate", "status"], env);
    assert.equal(out.code, 0, out.stderr);
    const lines = out.stdout.split("\n").filter((l) => /^\d{4}_/.test(l));
    assert.equal(lines.length, 2, out.stdout);
    assert.match(lines[0]!, new RegExp(`^${M1}\\s+applied \\d{4}-\\d{2}-\\d{2}T`));
    assert.match(lines[1]!, new RegExp(`^${M2}\\s+skipped \\(ENABLE_TIMESCALE=false\\)$`));
    // Where it looked: the database without its password, and the table.
    const where = new URL(DATABASE_URL);
    assert.equal(
      out.stdout.split("\n")[0],
      `database ${decodeURIComponent(where.username)}@${where.host}${where.pathname}, table ${world.table}`,
    );
    assert.doesNotMatch(out.stdout, /EDITED/);
  });

  await t.step("down 2 reverts both, keeps the table and its rows", async () => {
    const out = await runCli(["migrate", "down", "2"], env);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, new RegExp(`^${world.table}: reverted ${M2}, ${M1}$`, "m"));
    assert.deepEqual(await history(world), {});
    assert.ok(await tableExists(world, "sensor_readings"));
    const [r] = await world.sql.unsafe(`SELECT count(*)::int AS n, min(value) AS v FROM ${world.table}`);
    assert.deepEqual({ n: r!.n, v: r!.v }, { n: 1, v: 1 });
    const status = await runCli(["migrate", "status"], env);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`^${M1}\\s+pending$`, "m"));
    assert.match(status.stdout, new RegExp(`^${M2}\\s+skipped \\(ENABLE_TIMESCALE=false\\)$`, "m"));
  });

  await t.step("up again restores the schema and keeps the row", async () => {
    const out = await runCli(["migrate", "up"], env);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, new RegExp(`^${world.table}: applied ${M1}, ${M2}$`, "m"));
    assert.deepEqual(await history(world), { 1: 1, 2: 1 });
    const rows = await tableRows(world);
    assert.equal(rows.length, 1);
    assert.deepEqual(
      { ...rows[0]!, id: 0 },
      {
        id: 0,
        utc: "2026-11-28T10:00:00.000000",
        device_id: "d",
        sensor_type: "s",
        value: 1,
        metadata: null,
        source_stream: null,
        source_id: null,
      },
    );
    const keys = (await uniqueIndexes(world)).filter((c) => c.includes("source_id"));
    assert.equal(keys.length, 1);
  });
});

Deno.test("the previous service's table is upgraded in place, every row kept", async (t) => {
  for (const how of ["migrate up", "run (MIGRATE_ON_START)"] as const) {
    await t.step(`by ${how}`, async () => {
      await using world = await createWorld();
      await createOldTable(world);
      const before = await oldRows(world);
      assert.equal(before.length, 3);

      const stream = `${world.prefix}:esp32:temperature`;
      let ids: string[];
      if (how === "migrate up") {
        const out = await runCli(["migrate", "up"], world.env());
        assert.equal(out.code, 0, out.stderr);
        assert.match(out.stdout, new RegExp(`applied ${M1}, ${M2}`));
        assert.deepEqual(await oldRows(world), before, "old rows unchanged by the migration");
      }
      {
        await using svc = spawnService(["run"], world.env());
        await svc.waitForLog(message("consuming"), 30_000);
        ids = await addEntries(world.redis, stream, [
          { value: "1.5", timestamp: "2026-11-28T10:00:00Z" },
          { value: "2.5", timestamp: "2026-11-28T10:00:01Z" },
        ]);
        await waitFor(async () => (await rowCounts(world)).rows === 5, { timeoutMs: 20_000, what: "5 rows" });
        assert.equal(await stopService(svc), 0);
      }
      const after = await oldRows(world);
      assert.deepEqual(after, before, "the old rows are exactly as before");
      assert.deepEqual(
        after.map((r) => ({
          id: r.id,
          utc: r.utc,
          device_id: r.device_id,
          sensor_type: r.sensor_type,
          value: r.value,
        })),
        EXPECTED_OLD,
      );
      assert.deepEqual(after.map((r) => r.metadata), [{ room: "lab" }, null, {}]);
      const all = await tableRows(world);
      assert.equal(all.length, 5);
      for (const r of all.slice(0, 3)) {
        assert.equal(r.source_stream, null, "old rows have no source_stream");
        assert.equal(r.source_id, null, "old rows have no source_id");
      }
      assert.deepEqual(
        all.slice(3).map((r) => [r.id, r.source_stream, r.source_id, r.value]),
        [[4, stream, ids[0]!, 1.5], [5, stream, ids[1]!, 2.5]],
        "new rows continue the old id sequence and carry their source",
      );
      assert.deepEqual(await history(world), { 1: 1, 2: 1 });
    });
  }
});

Deno.test("an applied migration that was edited afterwards: up fails, naming the file", async (t) => {
  await using world = await createWorld();
  const up = await runCli(["migrate", "up"], world.env());
  assert.equal(up.code, 0, up.stderr);
  const table = { schema: world.schema, name: "sensor_readings" };

  await t.step("Migrator with an edited copy of the files throws MigrationError naming the file", async () => {
    const dir = await Deno.makeTempDir({ prefix: "db-writer-migrations-" });
    try {
      for await (const e of Deno.readDir(MIGRATIONS_DIR)) {
        if (!e.isFile) continue;
        await Deno.copyFile(new URL(e.name, MIGRATIONS_DIR), `${dir}/${e.name}`);
      }
      const file = `${dir}/${M1}.up.sql`;
      await Deno.writeTextFile(file, (await Deno.readTextFile(file)) + "\n-- a harmless-looking edit\n");
      const migrations = await loadMigrations(new URL(`file://${dir}/`));
      const original = await loadMigrations();
      assert.notEqual(migrations[0]!.checksum, original[0]!.checksum);
      assert.equal(migrations[1]!.checksum, original[1]!.checksum);

      const migrator = new Migrator(world.sql, { table, enableTimescale: false, migrations, log: silentLogger });
      await assert.rejects(migrator.up(), (err: Error) => {
        assert.ok(err instanceof MigrationError, `a MigrationError, got ${err}`);
        assert.ok(err.message.includes(`${M1}.up.sql`), err.message);
        assert.match(err.message, /edited/);
        return true;
      });
      await assert.rejects(migrator.down(1), MigrationError);
      const status = await migrator.status();
      assert.deepEqual(
        status.map((s) => [s.version, s.applied, s.unchanged]),
        [[1, true, false], [2, true, true]],
      );
      assert.deepEqual(await history(world), { 1: 1, 2: 1 }, "nothing recorded or reverted");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  // The same situation seen from the command line: the recorded checksum no longer matches the file.
  await world.sql.unsafe(
    `UPDATE "${world.schema}".db_writer_migrations SET checksum = repeat('0', 64) WHERE target = $1 AND version = 1`,
    [world.table],
  );

  await t.step("migrate up exits 1 naming the file", async () => {
    const out = await runCli(["migrate", "up"], world.env());
    assert.equal(out.code, 1, out.stdout + out.stderr);
    assert.ok(out.stderr.includes(`${M1}.up.sql`), out.stderr);
  });

  await t.step("migrate status flags it", async () => {
    const out = await runCli(["migrate", "status"], world.env());
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, new RegExp(`^${M1}\\s+applied \\S+\\s+EDITED SINCE APPLIED$`, "m"));
    assert.doesNotMatch(out.stdout, new RegExp(`^${M2}.*EDITED`, "m"));
  });

  await t.step("run with MIGRATE_ON_START stops with exit 1 instead of retrying", async () => {
    await using svc = spawnService(["run"], world.env());
    const status = await svc.status;
    assert.equal(status.code, 1);
    const failed = svc.records().find((r) => r.message === "migration failed");
    assert.ok(failed, svc.lines.join("\n"));
    assert.ok(String(failed.error).includes(`${M1}.up.sql`), String(failed.error));
    assert.equal(svc.records().filter((r) => r.message === "consuming").length, 0);
  });
});

Deno.test("two migrate up at once: both exit 0, each migration applied and recorded once", async (t) => {
  await t.step("in an existing empty schema", async () => {
    await using world = await createWorld();
    const outs = await Promise.all([runCli(["migrate", "up"], world.env()), runCli(["migrate", "up"], world.env())]);
    for (const o of outs) assert.equal(o.code, 0, o.stderr);
    assert.deepEqual(
      outs.map((o) => o.stdout.trim().split("\n").at(-1)).sort(),
      [`${world.table}: applied ${M1}, ${M2}`, `${world.table}: nothing to apply`],
    );
    assert.deepEqual(await history(world), { 1: 1, 2: 1 });
  });

  await t.step("in a schema that does not exist yet, three at once", async () => {
    await using world = await createWorld();
    const schema = `${world.schema}_new`;
    try {
      const env = world.env({ TABLE_NAME: `${schema}.sensor_readings` });
      const outs = await Promise.all([1, 2, 3].map(() => runCli(["migrate", "up"], env)));
      for (const o of outs) assert.equal(o.code, 0, o.stderr);
      const applied = outs.filter((o) => o.stdout.includes(`applied ${M1}, ${M2}`));
      assert.equal(applied.length, 1, outs.map((o) => o.stdout).join("\n"));
      const rows = await world.sql.unsafe(
        `SELECT version, count(*)::int AS n FROM "${schema}".db_writer_migrations GROUP BY version ORDER BY version`,
      );
      assert.deepEqual(rows.map((r) => [r.version, r.n]), [[1, 1], [2, 1]]);
    } finally {
      await world.sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    }
  });
});

Deno.test("bad migrate usage exits 2 and touches nothing", async (t) => {
  await using world = await createWorld();
  const cases: string[][] = [
    ["migrate", "sideways"],
    ["migrate"],
    ["migrate", "down", "0"],
    ["migrate", "down", "two"],
    ["migrate", "up", "3"],
    ["migrate", "status", "extra"],
  ];
  for (const args of cases) {
    await t.step(args.join(" "), async () => {
      const out = await runCli(args, world.env());
      assert.equal(out.code, 2, out.stdout + out.stderr);
      assert.match(out.stderr, /migrate/);
      assert.equal(out.stdout, "");
    });
  }
  assert.equal(await tableExists(world, "db_writer_migrations"), false);
  assert.equal(await tableExists(world, "sensor_readings"), false);
});

const serverHasTimescale = await (async () => {
  await using sql = testSql();
  return (await sql`SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'`).length > 0;
})();

Deno.test({
  name:
    "ENABLE_TIMESCALE=true on a server without TimescaleDB: a clear error with the fix, exit 1, the plain table kept" +
    (serverHasTimescale ? " (skipped: this server has TimescaleDB, so the error cannot happen here)" : ""),
  ignore: serverHasTimescale,
  fn: async () => {
    await using world = await createWorld();
    const timescaleEnv = {
      ENABLE_TIMESCALE: "true",
      TIMESCALE_COMPRESS_AFTER: "7 days",
      TIMESCALE_RETAIN_FOR: "1 year",
    };
    const out = await runCli(["migrate", "up"], world.env(timescaleEnv));
    assert.equal(out.code, 1, out.stdout + out.stderr);
    assert.match(out.stderr, /0002_timescale_hypertable failed .*timescaledb extension is not installed/);
    // The message says how to fix it.
    assert.match(out.stderr, /to fix: install TimescaleDB .*shared_preload_libraries.*or set ENABLE_TIMESCALE=false/);
    const status = await runCli(["migrate", "status"], world.env(timescaleEnv));
    assert.match(status.stdout, /0001_create_sensor_readings\s+applied/);
    assert.match(status.stdout, /0002_timescale_hypertable\s+pending$/m);
    const svc = await runCli(["run"], world.env({ ENABLE_TIMESCALE: "true" }));
    assert.equal(svc.code, 1, "the service does not start consuming without its hypertable");
    assert.match(svc.stdout, /migration failed/);
    assert.match(svc.stdout, /to fix: install TimescaleDB/);
  },
});

Deno.test("migrate status lines: skipped when TimescaleDB is off, a catch-up when it was turned on later", () => {
  const base = { version: 2, name: "timescale_hypertable", unchanged: true, skipped: false, catchUp: false };
  const at = new Date("2026-12-01T10:00:00Z");
  assert.equal(
    statusLine({ ...base, applied: true, appliedAt: at, skipped: true }),
    "0002_timescale_hypertable  skipped (ENABLE_TIMESCALE=false)",
  );
  assert.equal(
    statusLine({ ...base, applied: false, skipped: true }),
    "0002_timescale_hypertable  skipped (ENABLE_TIMESCALE=false)",
  );
  assert.match(
    statusLine({ ...base, applied: true, appliedAt: at, catchUp: true }),
    /^0002_timescale_hypertable {2}pending \(recorded while ENABLE_TIMESCALE=false;/,
  );
  assert.equal(
    statusLine({ ...base, applied: true, appliedAt: at }),
    "0002_timescale_hypertable  applied 2026-12-01T10:00:00.000Z",
  );
  assert.equal(statusLine({ ...base, applied: false }), "0002_timescale_hypertable  pending");
});
