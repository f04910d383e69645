/**
 * The TimescaleDB statements as text: TimescaleDB cannot be installed on the
 * test machines, so what the runner would send is checked here, and the
 * missing-extension error against the real server in migrate_test.ts.
 */
import assert from "node:assert/strict";
import {
  COMPRESS_ORDER_BY,
  COMPRESS_SEGMENT_BY,
  timescaleHint,
  timescalePolicyStatements,
} from "../../src/sink/migrations/timescale.ts";
import { loadMigrations } from "../../src/sink/migrations/files.ts";
import { Migrator } from "../../src/sink/migrations/runner.ts";
import { silentLogger } from "../_helpers/logger.ts";
import type { Sql } from "../../src/sink/client.ts";

const table = { schema: "iot", name: "readings" };

Deno.test("timescalePolicyStatements: nothing set, nothing sent", () => {
  assert.deepEqual(timescalePolicyStatements(table, {}, { compressionEnabled: false }), []);
});

Deno.test("timescalePolicyStatements: chunk interval, compression and retention", async (t) => {
  const settings = { chunkInterval: "1 day", compressAfter: "7 days", retainFor: "1 year" };
  await t.step("compression not yet on: turned on with segment and order columns", () => {
    assert.deepEqual(timescalePolicyStatements(table, settings, { compressionEnabled: false }), [
      `SELECT set_chunk_time_interval('"iot"."readings"'::regclass, INTERVAL '1 day')`,
      `ALTER TABLE "iot"."readings" SET (timescaledb.compress, timescaledb.compress_segmentby = 'device_id, sensor_type', timescaledb.compress_orderby = '"timestamp" DESC')`,
      `SELECT remove_compression_policy('"iot"."readings"'::regclass, if_exists => true)`,
      `SELECT add_compression_policy('"iot"."readings"'::regclass, INTERVAL '7 days')`,
      `SELECT remove_retention_policy('"iot"."readings"'::regclass, if_exists => true)`,
      `SELECT add_retention_policy('"iot"."readings"'::regclass, INTERVAL '1 year')`,
    ]);
  });
  await t.step("compression already on: its settings are kept, only the policy is replaced", () => {
    const sql = timescalePolicyStatements(table, { compressAfter: "3 days" }, { compressionEnabled: true });
    assert.deepEqual(sql, [
      `SELECT remove_compression_policy('"iot"."readings"'::regclass, if_exists => true)`,
      `SELECT add_compression_policy('"iot"."readings"'::regclass, INTERVAL '3 days')`,
    ]);
  });
  await t.step("a table without schema", () => {
    const [sql] = timescalePolicyStatements({ name: "sensor_readings" }, { retainFor: "90 days" }, {
      compressionEnabled: false,
    });
    assert.equal(sql, `SELECT remove_retention_policy('"sensor_readings"'::regclass, if_exists => true)`);
  });
  await t.step("segment and order columns exist in the table the migrations create", async () => {
    const migrations = await loadMigrations();
    const create = migrations[0]!.up;
    for (const col of [...COMPRESS_SEGMENT_BY.split(", "), COMPRESS_ORDER_BY.split(" ")[0]!.replaceAll('"', "")]) {
      assert.match(create, new RegExp(`\\b${col}\\b`), col);
    }
  });
});

Deno.test("migration 0002 renders for the target table and checks the setting and the extension first", async () => {
  const migrations = await loadMigrations();
  const m2 = migrations.find((m) => m.version === 2)!;
  const migrator = new Migrator(null as unknown as Sql, {
    table,
    enableTimescale: true,
    migrations,
    log: silentLogger,
  });
  const sql = migrator.render(m2.up);
  assert.doesNotMatch(sql, /\{\{/);
  assert.match(sql, /current_setting\('db_writer\.enable_timescale', true\)/);
  assert.match(sql, /timescaledb extension is not installed/);
  assert.match(sql, /CREATE EXTENSION IF NOT EXISTS timescaledb/);
  assert.match(sql, /ALTER TABLE "iot"\."readings" ADD PRIMARY KEY \(id, "timestamp"\)/);
  assert.match(
    sql,
    /create_hypertable\('"iot"\."readings"'::regclass, 'timestamp', if_not_exists => true, migrate_data => true\)/,
  );
  // Checks come before any change.
  assert.ok(sql.indexOf("pg_available_extensions") < sql.indexOf("CREATE EXTENSION"));
});

Deno.test("timescaleHint says what to do for each failure the operator can fix", () => {
  assert.match(
    timescaleHint({
      code: "0A000",
      message: "ENABLE_TIMESCALE is true but the timescaledb extension is not installed on this server",
    })!,
    /install TimescaleDB .* shared_preload_libraries .* ENABLE_TIMESCALE=false/,
  );
  assert.match(
    timescaleHint({ code: "0A000", message: 'extension "timescaledb" must be preloaded' })!,
    /add timescaledb to shared_preload_libraries/,
  );
  assert.match(
    timescaleHint({ message: 'extension "timescaledb" must be loaded via shared_preload_libraries' })!,
    /add timescaledb to shared_preload_libraries/,
  );
  assert.match(timescaleHint({ code: "42501", message: "permission denied to create extension" })!, /superuser/);
  assert.match(timescaleHint({ code: "42883", message: "function add_retention_policy does not exist" })!, /upgrade/);
  assert.equal(timescaleHint({ code: "23505", message: "duplicate key" }), undefined);
});
