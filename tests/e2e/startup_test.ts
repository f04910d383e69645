/**
 * Start-up failures that waiting cannot cure end the start with exit 1 and
 * one line that says what and where (database without password, table); an
 * outage is retried with the outage line (see pipeline_test's "SIGTERM while
 * PostgreSQL refuses connections during start-up migration").
 */
import assert from "node:assert/strict";
import { runCli, spawnService } from "../_helpers/process.ts";
import { DATABASE_URL, REDIS_URL } from "../_helpers/services.ts";

/** The database the tests use (TEST_DATABASE_URL's). */
const TEST_DB = new URL(DATABASE_URL).pathname.slice(1);
import { createWorld, uniqueName } from "../_helpers/world.ts";
import { message, stopService } from "../_helpers/process.ts";

/** The JSON log records of a finished run. */
function records(stdout: string): Record<string, unknown>[] {
  return stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

/** The run's error records; asserts there is exactly one, and no outage line. */
function oneErrorLine(out: { code: number; stdout: string; stderr: string }): Record<string, unknown> {
  assert.equal(out.code, 1, out.stdout + out.stderr);
  const recs = records(out.stdout);
  const errors = recs.filter((r) => r.level === "ERROR");
  assert.equal(errors.length, 1, out.stdout);
  assert.equal(recs.filter((r) => String(r.message).includes("retrying until it is back")).length, 0, out.stdout);
  assert.equal(recs.filter((r) => r.message === "consuming").length, 0, "never started consuming");
  return errors[0]!;
}

function withDatabase(url: string, database: string, user?: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  if (user) u.username = user;
  return u.toString();
}

Deno.test("start-up: a database that does not exist exits 1 naming it, without retrying", async (t) => {
  await using world = await createWorld();
  const missing = uniqueName("nodb");
  for (const migrate of ["true", "false"]) {
    await t.step(`MIGRATE_ON_START=${migrate}`, async () => {
      const out = await runCli(
        ["run"],
        world.env({
          DATABASE_URL: withDatabase(DATABASE_URL, missing),
          MIGRATE_ON_START: migrate,
        }),
      );
      const line = oneErrorLine(out);
      assert.equal(line.message, "cannot start: the database does not exist");
      assert.match(String(line.database), new RegExp(`/${missing}$`));
      assert.equal(line.table, world.table);
      assert.match(String(line.error), /^3D000: /);
    });
  }
});

Deno.test("start-up: a PostgreSQL role that is refused exits 1 without its password", async () => {
  await using world = await createWorld();
  const user = uniqueName("nouser");
  const url = withDatabase(DATABASE_URL, TEST_DB, user);
  const u = new URL(url);
  u.password = "s3cret-Start";
  const out = await runCli(["run"], world.env({ DATABASE_URL: u.toString() }));
  const line = oneErrorLine(out);
  assert.equal(line.message, "cannot start: postgres refused the credentials");
  assert.match(String(line.error), /^28/);
  assert.equal(line.database, `${user}@${u.host}/${TEST_DB}`);
  assert.doesNotMatch(out.stdout + out.stderr, /s3cret-Start/);
});

Deno.test("start-up: a table of another shape exits 1 naming the table", async (t) => {
  await using world = await createWorld();
  const table = `${world.schema}.telemetry`;
  await world.sql.unsafe(`CREATE TABLE "${world.schema}".telemetry (ts timestamptz, device text, reading float8)`);

  await t.step("MIGRATE_ON_START=true: the migration cannot apply (42703)", async () => {
    const out = await runCli(["run"], world.env({ TABLE_NAME: table, MIGRATE_ON_START: "true" }));
    const line = oneErrorLine(out);
    assert.equal(line.message, "migration failed");
    assert.equal(line.table, table);
    assert.match(String(line.error), /42703: column "timestamp" does not exist/);
    assert.ok(String(line.database).endsWith(`/${TEST_DB}`), String(line.database));
  });

  await t.step("MIGRATE_ON_START=false: the table lacks the columns written", async () => {
    const out = await runCli(["run"], world.env({ TABLE_NAME: table, MIGRATE_ON_START: "false" }));
    const line = oneErrorLine(out);
    assert.equal(line.message, "cannot start: the table does not have the columns db-writer writes");
    assert.equal(line.table, table);
    assert.match(String(line.error), /42703/);
  });

  await t.step(
    "MIGRATE_ON_START=false and no table yet: waits for it (a migration job may be creating it)",
    async () => {
      const absent = `${world.schema}.later`;
      await using svc = spawnService(["run"], world.env({ TABLE_NAME: absent, MIGRATE_ON_START: "false" }));
      const line = await svc.waitForLog((r) => String(r.message).startsWith("the table does not exist yet"));
      assert.equal(line.table, absent);
      await svc.waitForLog(message("consuming"));
      assert.equal(await stopService(svc), 0);
    },
  );
});

Deno.test("start-up: Redis refusing the credentials exits 1", async () => {
  await using world = await createWorld();
  const u = new URL(REDIS_URL);
  u.username = uniqueName("nouser");
  u.password = "s3cret-Redis";
  const out = await runCli(["run"], world.env({ REDIS_URL: u.toString() }));
  const line = oneErrorLine(out);
  assert.match(String(line.message), /^cannot start: redis refused the credentials \((WRONGPASS|NOAUTH)\)$/);
  assert.equal(line.redis, `${u.username}@${u.hostname}:${u.port}${u.pathname || "/0"}`);
  assert.doesNotMatch(out.stdout + out.stderr, /s3cret-Redis/);
});
