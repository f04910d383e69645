/**
 * The iotDashboard writer's `.env` as it is, pure: the DB_* alternative to
 * DATABASE_URL, its other names read as the settings that mean the same here
 * (BLOCK_TIME_MS, TRIM_MAXLEN, MAX_RETRIES) in this service's units, and the
 * `.env.example` lines its current generation never read. Files and the
 * driver are in tests/integration/upstream_env_test.ts, the running service
 * in tests/e2e/upstream_env_test.ts.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../src/config/load.ts";
import { leftoverWarnings } from "../../src/config/leftovers.ts";
import { ConfigError } from "../../src/errors.ts";
import { CURRENT_WRITER_ENV } from "../_helpers/iotdashboard.ts";

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
