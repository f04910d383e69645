/**
 * Stalls against the real service, Redis and PostgreSQL: a `LOCK TABLE` held
 * by another session, PostgreSQL frozen (a proxy that stops forwarding, as a
 * SIGSTOPped server does), a table that fails every write (disk full). Each
 * must turn into a visible outage (not ready on /readyz, /metrics and
 * `health`, one outage line) with nothing lost or duplicated: every entry
 * ends as exactly one row, none dead-lettered, none left pending.
 */
import assert from "node:assert/strict";
import { runCli, type ServiceProcess, spawnService } from "../_helpers/process.ts";
import { addEntries } from "../_helpers/streams.ts";
import { waitFor } from "../_helpers/wait.ts";
import { createWorld, type World } from "../_helpers/world.ts";
import { DATABASE_URL, hostPort, withHostPort } from "../_helpers/services.ts";
import { freePort, goodFields, httpStatus, rowStats, tail, TcpProxy, totalPending } from "../_helpers/faults.ts";

const START_MS = 60_000;
const SETTLE_MS = 30_000;
const isMessage = (m: string) => (r: Record<string, unknown>) => r.message === m;

/** The value of an unlabelled series on /metrics, or undefined when absent. */
export async function metric(port: number, name: string): Promise<number | undefined> {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) }).then(
    (res) => res.text(),
    () => "",
  );
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

/** What every endpoint says at one moment. */
interface Views {
  readyz: number;
  ready: number | undefined;
  databaseUp: number | undefined;
  redisUp: number | undefined;
  health: { code: number; ready: unknown; database: unknown; redis: unknown };
}

async function views(port: number, env: Record<string, string>): Promise<Views> {
  const health = await runCli(["health"], env);
  const body = JSON.parse(health.stdout) as Record<string, unknown>;
  return {
    readyz: await httpStatus(`http://127.0.0.1:${port}/readyz`),
    ready: await metric(port, "db_writer_ready"),
    databaseUp: await metric(port, "db_writer_database_up"),
    redisUp: await metric(port, "db_writer_redis_up"),
    health: { code: health.code, ready: body.ready, database: body.database, redis: body.redis },
  };
}

/** /readyz, /metrics and `health` all say "not ready, PostgreSQL down" (the same within a second). */
async function assertAllSayDatabaseDown(port: number, env: Record<string, string>, svc: ServiceProcess) {
  const v = await waitFor(
    async () => {
      const v = await views(port, env);
      return v.readyz === 503 && v.ready === 0 && v.databaseUp === 0 && v.health.code === 1 ? v : false;
    },
    { timeoutMs: SETTLE_MS, what: "every view not ready" },
  ).catch(async (err) => {
    throw new Error(`${(err as Error).message}\n${JSON.stringify(await views(port, env))}\n${tail(svc, 20)}`);
  });
  if (!v) return;
  assert.equal(v.redisUp, 1, "Redis is fine");
  assert.deepEqual(v.health, { code: 1, ready: false, database: false, redis: true });
}

/** Entries of one stream: all of them stored once, none dead-lettered, none pending. */
async function assertAllStoredOnce(world: World, stream: string, n: number): Promise<void> {
  await waitFor(async () => (await rowStats(world)).distinct >= n, { timeoutMs: SETTLE_MS, what: `${n} rows` });
  await waitFor(async () => (await totalPending(world.redis, [stream], world.group)) === 0, {
    timeoutMs: SETTLE_MS,
    what: "no pending",
  });
  const { rows, distinct } = await rowStats(world);
  assert.equal(distinct, n, "every entry stored");
  assert.equal(rows, n, "none stored twice");
  assert.equal(await world.redis.xlen(world.deadLetterStream), 0, "nothing dead-lettered");
}

Deno.test("stall: a LOCK TABLE held past WRITE_TIMEOUT_SEC is an outage (not ready), then everything is stored once", async () => {
  await using world = await createWorld();
  const port = freePort();
  const env = world.env({
    HTTP_PORT: String(port),
    HTTP_HOST: "127.0.0.1",
    WRITE_TIMEOUT_SEC: "1",
    RETRY_MAX_MS: "500",
  });
  await using svc = spawnService(["run"], env);
  await svc.waitForLog(isMessage("consuming"), START_MS);
  const stream = `${world.prefix}:dev1:temperature`;
  await addEntries(world.redis, stream, [goodFields(0)]);
  await waitFor(async () => (await rowStats(world)).rows === 1, { timeoutMs: SETTLE_MS, what: "a first row" });
  await waitFor(async () => (await httpStatus(`http://127.0.0.1:${port}/readyz`)) === 200, {
    timeoutMs: SETTLE_MS,
    what: "ready",
  });

  const locker = await world.sql.reserve();
  try {
    await locker`BEGIN`;
    await locker.unsafe(`LOCK TABLE ${world.table} IN ACCESS EXCLUSIVE MODE`);
    await addEntries(world.redis, stream, Array.from({ length: 50 }, (_, i) => goodFields(i + 1)));
    const outage = await svc.waitForLog(
      (r) => r.message === "postgres unavailable; retrying until it is back",
      SETTLE_MS,
    );
    assert.match(String(outage.error), /WRITE_TIMEOUT_SEC/);
    await assertAllSayDatabaseDown(port, env, svc);
    // Counted inside the lock's own transaction: any other session would wait for the lock.
    const [held] = await locker.unsafe(`SELECT count(*)::int AS n FROM ${world.table}`);
    assert.equal(held!.n, 1, "nothing written while the lock is held");
    assert.equal(await world.redis.xlen(world.deadLetterStream), 0, "nothing dead-lettered during the stall");
  } finally {
    await locker`COMMIT`;
    locker.release();
  }
  try {
    await assertAllStoredOnce(world, stream, 51);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${tail(svc, 30)}`);
  }
  await svc.waitForLog(isMessage("postgres available again"), SETTLE_MS);
  await waitFor(async () => (await httpStatus(`http://127.0.0.1:${port}/readyz`)) === 200, {
    timeoutMs: SETTLE_MS,
    what: "ready again",
  });
  assert.equal(svc.records().filter(isMessage("postgres unavailable; retrying until it is back")).length, 1);
});

Deno.test("stall: PostgreSQL frozen (nothing answers, nothing closes) is not ready everywhere, then everything is stored once", async () => {
  await using world = await createWorld();
  await using proxy = TcpProxy.start(hostPort(DATABASE_URL));
  const port = freePort();
  const env = world.env({
    HTTP_PORT: String(port),
    HTTP_HOST: "127.0.0.1",
    DATABASE_URL: withHostPort(DATABASE_URL, "127.0.0.1", proxy.port),
    WRITE_TIMEOUT_SEC: "1",
    RETRY_MAX_MS: "500",
  });
  await using svc = spawnService(["run"], env);
  await svc.waitForLog(isMessage("consuming"), START_MS);
  const stream = `${world.prefix}:dev1:temperature`;
  await addEntries(world.redis, stream, [goodFields(0)]);
  await waitFor(async () => (await rowStats(world)).rows === 1, { timeoutMs: SETTLE_MS, what: "a first row" });
  await waitFor(async () => (await httpStatus(`http://127.0.0.1:${port}/readyz`)) === 200, {
    timeoutMs: SETTLE_MS,
    what: "ready",
  });

  proxy.freeze();
  try {
    await addEntries(world.redis, stream, Array.from({ length: 50 }, (_, i) => goodFields(i + 1)));
    await svc.waitForLog(isMessage("postgres unavailable; retrying until it is back"), SETTLE_MS);
    // `health` connects through the proxy too: it sees the frozen server itself.
    await assertAllSayDatabaseDown(port, env, svc);
    assert.equal(await world.redis.xlen(world.deadLetterStream), 0, "nothing dead-lettered while frozen");
  } finally {
    proxy.thaw();
  }
  await assertAllStoredOnce(world, stream, 51);
  await waitFor(async () => (await httpStatus(`http://127.0.0.1:${port}/readyz`)) === 200, {
    timeoutMs: SETTLE_MS,
    what: "ready again",
  });
});

Deno.test("stall: every write failing with disk_full is not ready everywhere, then everything is stored once", async () => {
  await using world = await createWorld();
  const port = freePort();
  const env = world.env({ HTTP_PORT: String(port), HTTP_HOST: "127.0.0.1", RETRY_MAX_MS: "500" });
  await using svc = spawnService(["run"], env);
  await svc.waitForLog(isMessage("consuming"), START_MS);
  const stream = `${world.prefix}:dev1:temperature`;
  await addEntries(world.redis, stream, [goodFields(0)]);
  await waitFor(async () => (await rowStats(world)).rows === 1, { timeoutMs: SETTLE_MS, what: "a first row" });
  await waitFor(async () => (await httpStatus(`http://127.0.0.1:${port}/readyz`)) === 200, {
    timeoutMs: SETTLE_MS,
    what: "ready",
  });

  // What a full disk answers to every insert: SQLSTATE 53100.
  await world.sql.unsafe(`
    CREATE FUNCTION "${world.schema}".disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END $$;
    CREATE TRIGGER disk_full BEFORE INSERT ON ${world.table}
      FOR EACH STATEMENT EXECUTE FUNCTION "${world.schema}".disk_full();`);
  await addEntries(world.redis, stream, Array.from({ length: 50 }, (_, i) => goodFields(i + 1)));
  await svc.waitForLog(isMessage("postgres unavailable; retrying until it is back"), SETTLE_MS);
  await assertAllSayDatabaseDown(port, env, svc);
  assert.equal(await world.redis.xlen(world.deadLetterStream), 0, "nothing dead-lettered while the disk is full");
  await world.sql.unsafe(`DROP TRIGGER disk_full ON ${world.table}`);
  await assertAllStoredOnce(world, stream, 51);
  await waitFor(async () => (await httpStatus(`http://127.0.0.1:${port}/readyz`)) === 200, {
    timeoutMs: SETTLE_MS,
    what: "ready again",
  });
});
