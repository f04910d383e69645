/**
 * A `telemetry` table db-writer did not create is checked and never altered
 * (no column, index or history table); a missing one is created by
 * `migrate up` in the iotDashboard's shape.
 */
import assert from "node:assert/strict";
import { runCli, spawnService } from "../_helpers/process.ts";
import { createWorld, type World } from "../_helpers/world.ts";
import { catalogDump, createUpstreamTables } from "../_helpers/telemetry.ts";

function env(world: World, extra: Record<string, string> = {}): Record<string, string> {
  return world.env({
    TABLE_LAYOUT: "telemetry",
    TABLE_NAME: `${world.schema}.telemetry`,
    STREAM_PATTERN: `${world.prefix}:ingestion`,
    DEAD_LETTER_STREAM: `${world.prefix}:dlq`,
    LOG_FORMAT: "console",
    ...extra,
  });
}

Deno.test("an existing table without what db-writer needs: exit 1 naming each problem, nothing changed", async () => {
  await using world = await createWorld();
  await world.sql.unsafe(`CREATE TABLE "${world.schema}".telemetry (
    time TIMESTAMP NOT NULL, device_id TEXT NOT NULL, metric TEXT NOT NULL, value TEXT NOT NULL,
    source TEXT NOT NULL)`);
  const before = await catalogDump(world.sql, world.schema);
  await using svc = spawnService(["run"], env(world));
  const status = await svc.status;
  assert.equal(status.code, 1);
  const out = [...svc.lines, ...svc.errLines].join("\n");
  assert.match(out, /column \\?"time\\?" is timestamp without time zone, expected timestamptz/);
  assert.match(out, /column \\?"value\\?" is text, expected double precision/);
  assert.match(out, /column \\?"unit\\?" is missing \(expected text\)/);
  assert.match(out, /column \\?"source\\?" is NOT NULL without a default/);
  assert.match(out, /no primary key or unique index on exactly/);
  assert.doesNotMatch(out, /unavailable; retrying/);
  assert.equal(await catalogDump(world.sql, world.schema), before);
  const up = await runCli(["migrate", "up"], env(world));
  assert.equal(up.code, 1, up.stdout + up.stderr);
  assert.match(up.stdout, /not created by db-writer, so no migration applies and nothing was changed; it cannot be/);
  assert.equal(await catalogDump(world.sql, world.schema), before);
});

Deno.test("the iotDashboard's own tables: migrate up/status change nothing, down refuses", async () => {
  await using world = await createWorld();
  await createUpstreamTables(world.sql, world.schema, ["dev-1"]);
  const before = await catalogDump(world.sql, world.schema);
  for (const action of ["up", "status"]) {
    const r = await runCli(["migrate", action], env(world));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /not created by db-writer, so no migration applies and nothing was changed; it has what/);
  }
  const down = await runCli(["migrate", "down"], env(world));
  assert.equal(down.code, 1);
  assert.match(down.stderr, /was not created by db-writer; nothing to revert/);
  assert.equal(await catalogDump(world.sql, world.schema), before, "no history table, no index, no column");
});

Deno.test("a missing table: migrate up creates it in the iotDashboard's shape", async () => {
  await using world = await createWorld();
  await world.sql.unsafe(`CREATE TABLE "${world.schema}".devices (id TEXT PRIMARY KEY, name TEXT NOT NULL)`);
  const off = await runCli(["run"], env(world, { MIGRATE_ON_START: "false" }));
  assert.equal(off.code, 1);
  assert.match(off.stdout + off.stderr, /does not exist; create it with db-writer migrate up/);

  const up = await runCli(["migrate", "up"], env(world));
  assert.equal(up.code, 0, up.stderr);
  assert.match(up.stdout, /applied 0001_create_telemetry, 0002_timescale_hypertable/);
  const dump = await catalogDump(world.sql, world.schema);
  assert.match(dump, /col telemetry\.time timestamp with time zone true/);
  assert.match(dump, /col telemetry\.device_id text true/);
  assert.match(dump, /col telemetry\.metric text true/);
  assert.match(dump, /col telemetry\.value double precision true/);
  assert.match(dump, /col telemetry\.unit text false/);
  assert.match(dump, /con telemetry_pkey PRIMARY KEY \("time", device_id, metric\)/);
  assert.match(dump, /USING btree \(device_id, "time"\)/);
  assert.match(dump, /FOREIGN KEY \(device_id\) REFERENCES t_\w+\.devices\(id\) ON DELETE CASCADE/);

  const again = await runCli(["migrate", "up"], env(world));
  assert.match(again.stdout, /nothing to apply/);
  const status = await runCli(["migrate", "status"], env(world));
  assert.match(status.stdout, /0001_create_telemetry {2}applied/);
});

Deno.test("a missing table and no devices table: created without the reference", async () => {
  await using world = await createWorld();
  const up = await runCli(["migrate", "up"], env(world));
  assert.equal(up.code, 0, up.stderr);
  assert.doesNotMatch(await catalogDump(world.sql, world.schema), /FOREIGN KEY/);
});
