/**
 * The iotDashboard writer's `.env` as it is: the DB_* alternative to
 * DATABASE_URL, and its other names read as the settings that mean the same
 * here (BLOCK_TIME_MS, TRIM_MAXLEN, MAX_RETRIES); names with no meaning here
 * are ignored, never an error.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { loadConfig, readEnvironment } from "../src/config/load.ts";
import { leftoverWarnings } from "../src/config/leftovers.ts";
import { ConfigError } from "../src/errors.ts";
import { createWorld, DATABASE_URL, REDIS_URL, runCli, spawnService } from "./helpers.ts";
import { message, stopService } from "./e2e_helpers.ts";

const HOST = { hostname: "box", pid: 1 };

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env, HOST);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail(`expected a ConfigError for ${JSON.stringify(Object.keys(env))}`);
}

/** The current writer's settings with its defaults written out (its config reads exactly these). */
const CURRENT_WRITER_ENV = [
  "REDIS_HOST=localhost",
  "REDIS_PORT=6379",
  "REDIS_DB=0",
  "REDIS_PASSWORD=",
  "DB_HOST=db.internal",
  "DB_PORT=5433",
  "DB_NAME=iot_data",
  "DB_USER=iot",
  "DB_PASSWORD=example",
  "ENABLE_TIMESCALE=true",
  "CONSUMER_GROUP_NAME=db_writer",
  "CONSUMER_NAME=worker-01",
  "BATCH_SIZE=100",
  "BATCH_TIMEOUT_SEC=5",
  "PROCESSING_INTERVAL_SEC=1.0",
  "BLOCK_TIME_MS=5000",
  "MAX_RETRIES=3",
  "TRIM_MAXLEN=10000",
  "LOG_LEVEL=INFO",
  "LOG_FORMAT=json",
  // Names of the same project's compose file, for the database container: nothing here.
  "POSTGRES_USER=postgres",
  "POSTGRES_PASSWORD=example",
  "POSTGRES_DB=iot_data",
].join("\n");

Deno.test("the current iotDashboard writer's .env loads as it is", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/.env`, CURRENT_WRITER_ENV);
    const c = loadConfig(readEnvironment({}, `${dir}/.env`), HOST);
    assert.equal(c.databaseUrl, "postgres://iot:example@db.internal:5433/iot_data");
    assert.deepEqual([c.redis.host, c.redis.port, c.redis.db, c.redis.password], ["localhost", 6379, 0, undefined]);
    assert.equal(c.enableTimescale, true);
    assert.equal(c.consumerGroup, "db_writer");
    assert.equal(c.consumerName, "worker-01");
    assert.equal(c.batchSize, 100);
    assert.equal(c.batchTimeoutMs, 5000, "BATCH_TIMEOUT_SEC (set) wins over BLOCK_TIME_MS");
    assert.equal(c.processingIntervalMs, 1000);
    assert.equal(c.maxDeliveries, 4, "MAX_RETRIES=3: four tries");
    assert.equal(c.deadLetterMaxLen, 10_000);
    assert.equal(c.logLevel, "info");
    assert.equal(c.logFormat, "json");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the current writer's .env plus TABLE_LAYOUT=telemetry: its stream, table and dead letters", () => {
  const env = Object.fromEntries(
    CURRENT_WRITER_ENV.split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
  const c = loadConfig({ ...env, TABLE_LAYOUT: "telemetry" }, HOST);
  assert.deepEqual(c.streamPatterns, ["mqtt:ingestion"]);
  assert.deepEqual(c.table, { name: "telemetry" });
  assert.equal(c.deadLetterStream, "mqtt:dlq");
  assert.equal(c.deadLetterMaxLen, 10_000);
  assert.equal(c.databaseUrl, "postgres://iot:example@db.internal:5433/iot_data");
  assert.equal(loadConfig({ ...env, TRIM_MAXLEN: "500", TABLE_LAYOUT: "telemetry" }, HOST).deadLetterMaxLen, 500);
});

Deno.test("DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD", async (t) => {
  const parts = { DB_HOST: "db", DB_NAME: "iot", DB_USER: "writer", DB_PASSWORD: "pw" };

  await t.step("make the URL; DB_PORT defaults to 5432", () => {
    assert.equal(loadConfig(parts, HOST).databaseUrl, "postgres://writer:pw@db:5432/iot");
  });

  await t.step("DATABASE_URL wins when both are given, even over a set given in part", () => {
    const url = "postgres://other@elsewhere:5432/x";
    assert.equal(loadConfig({ ...parts, DATABASE_URL: url }, HOST).databaseUrl, url);
    assert.equal(loadConfig({ DB_HOST: "db", DATABASE_URL: url }, HOST).databaseUrl, url);
  });

  await t.step("user and password are percent-encoded, and the driver reads them back exactly", async () => {
    const password = "p@ss:w/rd%?#& é";
    const user = "iot user@x";
    const url = loadConfig({ ...parts, DB_USER: user, DB_PASSWORD: password }, HOST).databaseUrl;
    assert.ok(!url.includes(password));
    const sql = postgres(url, { max: 1 }); // lazy: connects to nothing
    try {
      const o = sql.options as unknown as { user: string; pass: string; database: string; host: string[] };
      assert.equal(o.pass, password);
      assert.equal(o.user, user);
      assert.equal(o.database, "iot");
      assert.deepEqual(o.host, ["db"]);
    } finally {
      await sql.end();
    }
  });

  await t.step("an IPv6 host is bracketed", () => {
    assert.equal(loadConfig({ ...parts, DB_HOST: "::1" }, HOST).databaseUrl, "postgres://writer:pw@[::1]:5432/iot");
  });

  await t.step("a set given in part names each missing variable, and never prints the password", () => {
    const secret = "Hunter2xyz";
    const problems = problemsOf({ DB_HOST: "db", DB_PASSWORD: secret });
    assert.deepEqual(problems.map((p) => p.split(":")[0]), ["DB_NAME", "DB_USER"]);
    for (const p of problems) {
      assert.match(p, /DB_HOST, DB_PASSWORD are given/);
      assert.match(p, /or set DATABASE_URL instead/);
      assert.ok(!p.includes(secret), p);
    }
    assert.deepEqual(problemsOf({ DB_PORT: "5432" }).map((p) => p.split(":")[0]), [
      "DB_HOST",
      "DB_NAME",
      "DB_USER",
      "DB_PASSWORD",
    ]);
  });

  await t.step("bad parts are reported one line each", () => {
    const problems = problemsOf({ ...parts, DB_PORT: "99999", DB_HOST: "db:5432", DB_NAME: "iot/x" });
    assert.equal(problems.length, 3, JSON.stringify(problems));
    assert.match(problems.find((p) => p.startsWith("DB_PORT:"))!, /got "99999", expected an integer from 1 to 65535/);
    assert.match(problems.find((p) => p.startsWith("DB_HOST:"))!, /got "db:5432", expected a host name/);
    assert.match(problems.find((p) => p.startsWith("DB_NAME:"))!, /got "iot\/x", expected a database name/);
  });
});

Deno.test("the writer's other names are aliases, converted to this service's units", async (t) => {
  await t.step("BLOCK_TIME_MS (ms) → BATCH_TIMEOUT_SEC (s)", () => {
    assert.equal(loadConfig({ BLOCK_TIME_MS: "2000" }, HOST).batchTimeoutMs, 2000);
    assert.equal(loadConfig({ BLOCK_TIME_MS: "250" }, HOST).batchTimeoutMs, 250);
    assert.equal(loadConfig({ BLOCK_TIME_MS: "0" }, HOST).batchTimeoutMs, 5000, "0 (for ever): the default");
    assert.equal(loadConfig({ BLOCK_TIME_MS: "2000", BATCH_TIMEOUT_SEC: "1" }, HOST).batchTimeoutMs, 1000);
    const [p] = problemsOf({ BLOCK_TIME_MS: "2.5s" });
    assert.equal(
      p,
      'BLOCK_TIME_MS: got "2.5s", expected a whole number of milliseconds from 0 to 3600000 (read as BATCH_TIMEOUT_SEC)',
    );
  });
  await t.step("TRIM_MAXLEN → DEAD_LETTER_MAXLEN", () => {
    assert.equal(loadConfig({ TRIM_MAXLEN: "500" }, HOST).deadLetterMaxLen, 500);
    assert.equal(loadConfig({ TRIM_MAXLEN: "500", DEAD_LETTER_MAXLEN: "7" }, HOST).deadLetterMaxLen, 7);
    assert.match(problemsOf({ TRIM_MAXLEN: "-1" })[0]!, /^TRIM_MAXLEN: got "-1", expected an integer from 0/);
  });
  await t.step("MAX_RETRIES (retries) → MAX_DELIVERIES (tries)", () => {
    assert.equal(loadConfig({ MAX_RETRIES: "0" }, HOST).maxDeliveries, 1);
    assert.equal(loadConfig({ MAX_RETRIES: "3" }, HOST).maxDeliveries, 4);
    assert.equal(loadConfig({ MAX_RETRIES: "3", MAX_DELIVERIES: "9" }, HOST).maxDeliveries, 9);
    assert.match(problemsOf({ MAX_RETRIES: "-1" })[0]!, /^MAX_RETRIES: got "-1", expected a whole number of retries/);
  });
  await t.step("LOG_LEVEL=CRITICAL (Python's) means ERROR", () => {
    assert.equal(loadConfig({ LOG_LEVEL: "CRITICAL" }, HOST).logLevel, "error");
  });
});

Deno.test("the service connects with the DB_* set and never prints its password", async () => {
  const db = new URL(DATABASE_URL);
  const password = "n0t:pr1nted@all/%";
  const out = await runCli(["health"], {
    REDIS_URL,
    DB_HOST: db.hostname,
    DB_PORT: db.port || "5432",
    DB_NAME: db.pathname.slice(1) || "postgres",
    DB_USER: decodeURIComponent(db.username) || "postgres",
    DB_PASSWORD: password,
    HTTP_PORT: "0",
  });
  assert.equal(out.code, 0, `${out.stdout}\n${out.stderr}`);
  assert.equal(JSON.parse(out.stdout).database, true);
  const printed = `${out.stdout}${out.stderr}`;
  assert.ok(!printed.includes(password), "password printed");
  assert.ok(!printed.includes(encodeURIComponent(password)), "encoded password printed");
});

Deno.test("a running service started from the DB_* set logs its URL with the password masked", async () => {
  await using world = await createWorld();
  const db = new URL(DATABASE_URL);
  const password = "Run-n0t:shown@all/%";
  const { DATABASE_URL: _url, ...env } = world.env();
  await using svc = spawnService(["run"], {
    ...env,
    DB_HOST: db.hostname,
    DB_PORT: db.port || "5432",
    DB_NAME: db.pathname.slice(1) || "postgres",
    DB_USER: decodeURIComponent(db.username) || "postgres",
    DB_PASSWORD: password,
  });
  const started = await svc.waitForLog(message("starting db-writer"), 30_000);
  await svc.waitForLog(message("consuming"), 30_000);
  assert.equal(await stopService(svc), 0);
  const url = String((started.config as Record<string, unknown>).databaseUrl);
  assert.match(url, /^postgres:\/\/[^:]+:\*\*\*@/, url);
  const printed = [...svc.lines, ...svc.errLines].join("\n");
  assert.ok(!printed.includes(password), "password printed");
  assert.ok(!printed.includes(encodeURIComponent(password)), "encoded password printed");
});

Deno.test("with TABLE_LAYOUT=telemetry, the .env.example lines the current writer never read are warned about", () => {
  const example = {
    STREAM_PATTERN: "mqtt_stream:*",
    DEAD_LETTER_STREAM: "mqtt_stream:failed",
    TABLE_NAME: "sensor_readings",
  };
  const warnings = leftoverWarnings(loadConfig({ ...example, TABLE_LAYOUT: "telemetry" }, HOST));
  assert.deepEqual(warnings.map((w) => w.split("=")[0]), ["STREAM_PATTERN", "DEAD_LETTER_STREAM", "TABLE_NAME"]);
  assert.match(warnings[0]!, /wins over TABLE_LAYOUT=telemetry's mqtt:ingestion/);
  assert.deepEqual(leftoverWarnings(loadConfig(example, HOST)), [], "nothing to say with the readings layout");
  assert.deepEqual(leftoverWarnings(loadConfig({ TABLE_LAYOUT: "telemetry" }, HOST)), []);
  assert.deepEqual(
    leftoverWarnings(loadConfig({ TABLE_LAYOUT: "telemetry", STREAM_PATTERN: "mqtt:ingestion,extra:*" }, HOST)),
    [],
  );
});
