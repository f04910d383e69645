/**
 * Pure tests of configuration loading: defaults, validation, one line per
 * problem, secrets never shown (the `.env` overlay, which reads files, is in
 * tests/integration/env_file_test.ts).
 */
import assert from "node:assert/strict";
import type { Config } from "../../src/config/load.ts";
import { loadConfig } from "../../src/config/load.ts";
import { maskUrl, redactedConfig } from "../../src/config/redact.ts";
import { tableLabel } from "../../src/sink/table.ts";
import { ConfigError } from "../../src/errors.ts";

const HOST = { hostname: "box", pid: 4242 };

function problemsOf(env: Record<string, string | undefined>): readonly string[] {
  try {
    loadConfig(env, HOST);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
    assert.equal(err.name, "ConfigError");
    for (const p of err.problems) {
      assert.doesNotMatch(p, /\n/, "each problem is one line");
      assert.ok(err.message.includes(p), "the message lists every problem");
    }
    return err.problems;
  }
  assert.fail(`expected a ConfigError for ${JSON.stringify(env)}`);
}

/** Asserts exactly one problem, about `variable`, and returns it. */
function oneProblem(env: Record<string, string | undefined>, variable: string): string {
  const problems = problemsOf(env);
  assert.equal(problems.length, 1, `expected one problem, got ${JSON.stringify(problems)}`);
  const p = problems[0]!;
  assert.ok(p.startsWith(`${variable}: `), `problem should name ${variable}: ${p}`);
  return p;
}

Deno.test("loadConfig: defaults for every variable", () => {
  const c = loadConfig({}, HOST);
  const want: Config = {
    redis: { host: "localhost", port: 6379, db: 0, password: undefined, tls: false },
    databaseUrl: "postgres://postgres@localhost:5432/postgres",
    consumerGroup: "db_writer",
    consumerName: "box-4242",
    batchSize: 500,
    batchMaxBytes: 0,
    batchTimeoutMs: 5000,
    processingIntervalMs: 0,
    streamPatterns: ["mqtt_stream:*", "mqtt:ingestion"],
    deadLetterStream: "mqtt_stream:failed",
    deadLetterMaxLen: 0,
    tableLayout: "readings",
    table: { name: "sensor_readings" },
    enableTimescale: false,
    logLevel: "info",
    logFormat: "auto",
    httpPort: 9464,
    httpHost: "127.0.0.1",
    httpBearerToken: undefined,
    httpBasicAuthUser: undefined,
    httpBasicAuthPassword: undefined,
    httpTlsCertFile: undefined,
    httpTlsKeyFile: undefined,
    migrateOnStart: true,
    claimMinIdleMs: 60_000,
    maxDeliveries: 5,
    consumerRemoveIdleMs: 3_600_000,
    discoveryIntervalMs: 5000,
    newStreamNotify: "auto",
    shutdownTimeoutMs: 30_000,
    statsIntervalMs: 5000,
    retryInitialMs: 200,
    retryMaxMs: 30_000,
    dbPoolSize: 4,
    writeConcurrency: 2,
    lagIntervalMs: 10_000,
    writeTimeoutMs: 20_000,
    timescale: { chunkInterval: undefined, compressAfter: undefined, retainFor: undefined },
    maxMessageBytes: 65_536,
    maxMessageFields: 1000,
    maxMetadataBytes: 16_384,
    maxMetadataDepth: 32,
    rangeChecks: false,
    metricRules: {},
  };
  assert.deepEqual(c, want);
});

Deno.test("loadConfig: empty and blank strings mean the default", () => {
  const c = loadConfig(
    { BATCH_SIZE: "", LOG_LEVEL: "  ", TABLE_NAME: "", REDIS_PASSWORD: "", STREAM_PATTERN: " " },
    HOST,
  );
  assert.equal(c.batchSize, 500);
  assert.equal(c.logLevel, "info");
  assert.deepEqual(c.table, { name: "sensor_readings" });
  assert.equal(c.redis.password, undefined);
  assert.deepEqual(c.streamPatterns, ["mqtt_stream:*", "mqtt:ingestion"]);
});

Deno.test("loadConfig: every variable set to a good value", () => {
  const c = loadConfig({
    REDIS_HOST: "redis.internal",
    REDIS_PORT: "6380",
    REDIS_DB: "3",
    REDIS_PASSWORD: "s3cret",
    DATABASE_URL: "postgresql://writer:pw@db:5433/iot?sslmode=require",
    CONSUMER_GROUP_NAME: "writers",
    CONSUMER_NAME: "writer-a",
    BATCH_SIZE: " 1000 ",
    BATCH_MAX_BYTES: "8388608",
    MAX_MESSAGE_BYTES: "4096",
    MAX_MESSAGE_FIELDS: "20",
    MAX_METADATA_BYTES: "1024",
    MAX_METADATA_DEPTH: "4",
    BATCH_TIMEOUT_SEC: "0.25",
    PROCESSING_INTERVAL_SEC: "1.5",
    STREAM_PATTERN: "mqtt_stream:*, mqtt:ingestion ,",
    DEAD_LETTER_STREAM: "dlq",
    DEAD_LETTER_MAXLEN: "100000",
    TABLE_NAME: "iot.readings",
    ENABLE_TIMESCALE: "true",
    LOG_LEVEL: "debug",
    LOG_FORMAT: "CONSOLE",
    HTTP_PORT: "0",
    HTTP_HOST: "0.0.0.0",
    HTTP_BEARER_TOKEN: "t0ken with spaces ",
    HTTP_BASIC_AUTH_USER: "prometheus",
    HTTP_BASIC_AUTH_PASSWORD: "p@ss:word",
    MIGRATE_ON_START: "false",
    CLAIM_MIN_IDLE_MS: "5000",
    MAX_DELIVERIES: "3",
    CONSUMER_REMOVE_IDLE_MS: "60000",
    DISCOVERY_INTERVAL_SEC: "2",
    NEW_STREAM_NOTIFY: "enable",
    SHUTDOWN_TIMEOUT_SEC: "10",
    STATS_INTERVAL_SEC: "0.5",
    RETRY_INITIAL_MS: "50",
    RETRY_MAX_MS: "5000",
    DB_POOL_SIZE: "8",
    WRITE_CONCURRENCY: "3",
    LAG_INTERVAL_SEC: "2.5",
    WRITE_TIMEOUT_SEC: "7.5",
    TIMESCALE_CHUNK_INTERVAL: "1 day",
    TIMESCALE_COMPRESS_AFTER: "7 days",
    TIMESCALE_RETAIN_FOR: "1 year",
  }, HOST);
  assert.deepEqual(c, {
    redis: { host: "redis.internal", port: 6380, db: 3, password: "s3cret", tls: false },
    databaseUrl: "postgresql://writer:pw@db:5433/iot?sslmode=require",
    consumerGroup: "writers",
    consumerName: "writer-a",
    batchSize: 1000,
    batchMaxBytes: 8_388_608,
    batchTimeoutMs: 250,
    processingIntervalMs: 1500,
    streamPatterns: ["mqtt_stream:*", "mqtt:ingestion"],
    deadLetterStream: "dlq",
    deadLetterMaxLen: 100_000,
    tableLayout: "readings",
    table: { schema: "iot", name: "readings" },
    enableTimescale: true,
    logLevel: "debug",
    logFormat: "text",
    httpPort: 0,
    httpHost: "0.0.0.0",
    httpBearerToken: "t0ken with spaces ",
    httpBasicAuthUser: "prometheus",
    httpBasicAuthPassword: "p@ss:word",
    httpTlsCertFile: undefined,
    httpTlsKeyFile: undefined,
    migrateOnStart: false,
    claimMinIdleMs: 5000,
    maxDeliveries: 3,
    consumerRemoveIdleMs: 60_000,
    discoveryIntervalMs: 2000,
    newStreamNotify: "enable",
    shutdownTimeoutMs: 10_000,
    statsIntervalMs: 500,
    retryInitialMs: 50,
    retryMaxMs: 5000,
    dbPoolSize: 8,
    writeConcurrency: 3,
    lagIntervalMs: 2500,
    writeTimeoutMs: 7500,
    timescale: { chunkInterval: "1 day", compressAfter: "7 days", retainFor: "1 year" },
    maxMessageBytes: 4096,
    maxMessageFields: 20,
    maxMetadataBytes: 1024,
    maxMetadataDepth: 4,
    rangeChecks: false,
    metricRules: {},
  });
});

Deno.test("loadConfig: the config object is frozen, nested objects too", () => {
  const c = loadConfig({ STREAM_PATTERN: "a:*,b" }, HOST);
  assert.ok(Object.isFrozen(c));
  assert.ok(Object.isFrozen(c.redis));
  assert.ok(Object.isFrozen(c.table));
  assert.ok(Object.isFrozen(c.streamPatterns));
  assert.throws(() => {
    (c as { batchSize: number }).batchSize = 1;
  }, TypeError);
  assert.throws(() => {
    (c.streamPatterns as string[]).push("x");
  }, TypeError);
  assert.equal(c.batchSize, 500);
});

Deno.test("loadConfig: default defaults when no hostname/pid is given", () => {
  assert.equal(loadConfig({}).consumerName, "db-writer-0");
});

Deno.test("loadConfig: Redis settings", async (t) => {
  await t.step("REDIS_URL wins over REDIS_HOST/PORT/DB/PASSWORD", () => {
    const c = loadConfig({
      REDIS_URL: "redis://:urlpass@cache:7000/5",
      REDIS_HOST: "ignored",
      REDIS_PORT: "1234",
      REDIS_DB: "9",
      REDIS_PASSWORD: "ignored-too",
    }, HOST);
    assert.deepEqual(c.redis, {
      host: "cache",
      port: 7000,
      db: 5,
      username: undefined,
      password: "urlpass",
      tls: false,
    });
  });
  await t.step("rediss:// sets tls, username and percent-encoded password decoded", () => {
    const c = loadConfig({ REDIS_URL: "rediss://app:p%40ss%3Aw%2Frd@secure.example:6380/1" }, HOST);
    assert.deepEqual(c.redis, {
      host: "secure.example",
      port: 6380,
      db: 1,
      username: "app",
      password: "p@ss:w/rd",
      tls: true,
    });
  });
  await t.step("REDIS_URL without port and db", () => {
    const c = loadConfig({ REDIS_URL: "redis://cache" }, HOST);
    assert.deepEqual(c.redis, {
      host: "cache",
      port: 6379,
      db: 0,
      username: undefined,
      password: undefined,
      tls: false,
    });
  });
  await t.step("REDIS_URL with an IPv6 host", () => {
    const c = loadConfig({ REDIS_URL: "redis://[::1]:6390/0" }, HOST);
    assert.equal(c.redis.host, "::1");
    assert.equal(c.redis.port, 6390);
  });
  await t.step("the four REDIS_* variables", () => {
    const c = loadConfig({ REDIS_HOST: "r", REDIS_PORT: "6390", REDIS_DB: "15", REDIS_PASSWORD: "pw" }, HOST);
    assert.deepEqual(c.redis, { host: "r", port: 6390, db: 15, password: "pw", tls: false });
  });
  await t.step("REDIS_PASSWORD is taken verbatim (spaces kept)", () => {
    assert.equal(loadConfig({ REDIS_PASSWORD: " a b " }, HOST).redis.password, " a b ");
  });
});

Deno.test("loadConfig: each bad value gives one line naming the variable", async (t) => {
  const cases: [variable: string, value: string, expected: RegExp][] = [
    ["REDIS_URL", "http://cache:6379", /a redis:\/\/ or rediss:\/\/ URL/],
    ["REDIS_URL", "not a url", /a URL like redis:\/\//],
    ["REDIS_URL", "redis://cache:6379/16", /database number from 0 to 15/],
    ["REDIS_URL", "redis://cache:6379/abc", /database number from 0 to 15/],
    ["REDIS_PORT", "abc", /an integer from 1 to 65535/],
    ["REDIS_PORT", "0", /an integer from 1 to 65535/],
    ["REDIS_PORT", "65536", /an integer from 1 to 65535/],
    ["REDIS_PORT", "63.5", /an integer/],
    ["REDIS_DB", "16", /an integer from 0 to 15/],
    ["REDIS_DB", "-1", /an integer from 0 to 15/],
    ["DATABASE_URL", "mysql://db/x", /a URL like postgres:\/\//],
    ["DATABASE_URL", "localhost:5432", /a URL like postgres:\/\//],
    ["DATABASE_URL", "nonsense", /a URL like postgres:\/\//],
    ["CONSUMER_GROUP_NAME", "has space", /a name without spaces/],
    ["CONSUMER_NAME", "x".repeat(201), /at most 200 characters/],
    ["BATCH_SIZE", "0", /an integer from 1 to 100000/],
    ["BATCH_SIZE", "1e3", /an integer/],
    ["BATCH_SIZE", "100001", /an integer from 1 to 100000/],
    ["BATCH_SIZE", "ten", /an integer/],
    ["MAX_MESSAGE_BYTES", "255", /an integer from 256 to 67108864/],
    ["MAX_MESSAGE_BYTES", "64k", /an integer/],
    ["MAX_MESSAGE_FIELDS", "3", /an integer from 4 to 100000/],
    ["MAX_METADATA_BYTES", "0", /an integer from 2 to 16777216/],
    ["MAX_METADATA_DEPTH", "0", /an integer from 1 to 1000/],
    ["MAX_METADATA_DEPTH", "1001", /an integer from 1 to 1000/],
    ["BATCH_TIMEOUT_SEC", "0", /a number of seconds from 0\.001 to 3600/],
    ["BATCH_TIMEOUT_SEC", "5s", /a number of seconds/],
    ["BATCH_TIMEOUT_SEC", "-1", /a number of seconds/],
    ["PROCESSING_INTERVAL_SEC", "abc", /a number of seconds from 0 to 3600/],
    ["STREAM_PATTERN", ",, ,", /a glob or a comma-separated list/],
    ["STREAM_PATTERN", "mqtt_stream:*,mqtt_stream:failed", /dead-letter stream "mqtt_stream:failed"/],
    ["DEAD_LETTER_STREAM", "dead letters", /a name without spaces/],
    ["DEAD_LETTER_MAXLEN", "-5", /an integer from 0/],
    ["TABLE_NAME", "a;drop", /a plain SQL identifier/],
    ["TABLE_NAME", "a.b.c", /a plain SQL identifier/],
    ["TABLE_NAME", '"x"', /a plain SQL identifier/],
    ["TABLE_NAME", "1table", /a plain SQL identifier/],
    ["TABLE_NAME", "sensor-readings", /a plain SQL identifier/],
    ["TABLE_NAME", "a".repeat(64), /a plain SQL identifier/],
    ["TABLE_NAME", ".t", /a plain SQL identifier/],
    ["ENABLE_TIMESCALE", "maybe", /true or false/],
    ["MIGRATE_ON_START", "2", /true or false/],
    ["LOG_LEVEL", "TRACE", /one of DEBUG, INFO, WARNING, ERROR/],
    ["LOG_LEVEL", "verbose", /one of DEBUG, INFO, WARNING, ERROR/],
    ["LOG_FORMAT", "xml", /one of auto, json, text/],
    ["HTTP_PORT", "-1", /an integer from 0 to 65535/],
    ["HTTP_PORT", "70000", /an integer from 0 to 65535/],
    ["CLAIM_MIN_IDLE_MS", "10", /an integer from 100/],
    ["MAX_DELIVERIES", "0", /an integer from 1 to 1000/],
    ["CONSUMER_REMOVE_IDLE_MS", "999", /an integer from 1000/],
    ["DISCOVERY_INTERVAL_SEC", "0", /a number of seconds/],
    ["SHUTDOWN_TIMEOUT_SEC", "0.5", /a number of seconds from 1 to 3600/],
    ["STATS_INTERVAL_SEC", "x", /a number of seconds/],
    ["RETRY_INITIAL_MS", "0", /an integer from 1 to 60000/],
    ["RETRY_MAX_MS", "5", /an integer from 10 to 600000/],
    ["DB_POOL_SIZE", "1", /an integer from 2 to 100/],
  ];
  for (const [variable, value, expected] of cases) {
    await t.step(`${variable}=${JSON.stringify(value)}`, () => {
      const p = oneProblem({ [variable]: value }, variable);
      assert.match(p, expected);
      assert.match(p, /, expected /);
      if (variable !== "REDIS_URL" && variable !== "DATABASE_URL") {
        assert.ok(p.includes(`got ${JSON.stringify(value)}`), `problem should show the value given: ${p}`);
      }
    });
  }
});

Deno.test("loadConfig: RETRY_MAX_MS below RETRY_INITIAL_MS is a problem", () => {
  const p = oneProblem({ RETRY_INITIAL_MS: "1000", RETRY_MAX_MS: "500" }, "RETRY_MAX_MS");
  assert.match(p, /expected at least RETRY_INITIAL_MS \(1000\)/);
});

Deno.test("loadConfig: several bad variables are all reported at once", () => {
  const problems = problemsOf({
    BATCH_SIZE: "0",
    REDIS_PORT: "x",
    TABLE_NAME: "a;drop",
    LOG_LEVEL: "loud",
    ENABLE_TIMESCALE: "perhaps",
  });
  assert.equal(problems.length, 5);
  const vars = problems.map((p) => p.slice(0, p.indexOf(":"))).sort();
  assert.deepEqual(vars, ["BATCH_SIZE", "ENABLE_TIMESCALE", "LOG_LEVEL", "REDIS_PORT", "TABLE_NAME"]);
});

Deno.test("loadConfig: cross-variable problems are reported together with the others", () => {
  // Contract: one line per problem, all at start-up; an operator should not have to
  // fix BATCH_SIZE first only to be told about RETRY_MAX_MS on the next start.
  const problems = problemsOf({ BATCH_SIZE: "0", RETRY_INITIAL_MS: "1000", RETRY_MAX_MS: "500" });
  const vars = problems.map((p) => p.slice(0, p.indexOf(":"))).sort();
  assert.deepEqual(vars, ["BATCH_SIZE", "RETRY_MAX_MS"]);
});

Deno.test("loadConfig: TABLE_NAME", async (t) => {
  const cases: [string, { schema?: string; name: string }, string][] = [
    ["sensor_readings", { name: "sensor_readings" }, "sensor_readings"],
    ["iot.sensor_readings", { schema: "iot", name: "sensor_readings" }, "iot.sensor_readings"],
    ["_t1", { name: "_t1" }, "_t1"],
    ["a".repeat(63), { name: "a".repeat(63) }, "a".repeat(63)],
    [" padded ", { name: "padded" }, "padded"],
  ];
  for (const [value, table, label] of cases) {
    await t.step(value, () => {
      const c = loadConfig({ TABLE_NAME: value }, HOST);
      assert.deepEqual(c.table, table);
      assert.equal(tableLabel(c.table), label);
    });
  }
});

Deno.test("loadConfig: STREAM_PATTERN", async (t) => {
  const cases: [string, string[]][] = [
    ["mqtt_stream:*", ["mqtt_stream:*"]],
    ["mqtt_stream:*,mqtt:ingestion", ["mqtt_stream:*", "mqtt:ingestion"]],
    [" a:* , b ,, c:?:x ", ["a:*", "b", "c:?:x"]],
  ];
  for (const [value, want] of cases) {
    await t.step(value, () => {
      assert.deepEqual(loadConfig({ STREAM_PATTERN: value }, HOST).streamPatterns, want);
    });
  }
  await t.step("a glob that merely matches the dead-letter stream is allowed (it is skipped when consuming)", () => {
    const c = loadConfig({ STREAM_PATTERN: "mqtt_stream:*" }, HOST);
    assert.equal(c.deadLetterStream, "mqtt_stream:failed");
  });
  await t.step("naming a custom dead-letter stream exactly is a problem", () => {
    const p = oneProblem({ STREAM_PATTERN: "a:*,dlq", DEAD_LETTER_STREAM: "dlq" }, "STREAM_PATTERN");
    assert.match(p, /got "a:\*,dlq"/);
    assert.match(p, /"dlq"/);
  });
});

Deno.test("loadConfig: LOG_LEVEL any case, WARN alias", async (t) => {
  const cases: [string, string][] = [
    ["DEBUG", "debug"],
    ["Info", "info"],
    ["info", "info"],
    ["WARNING", "warning"],
    ["warning", "warning"],
    ["WARN", "warning"],
    ["warn", "warning"],
    ["ERROR", "error"],
    [" error ", "error"],
  ];
  for (const [value, want] of cases) {
    await t.step(value, () => assert.equal(loadConfig({ LOG_LEVEL: value }, HOST).logLevel, want));
  }
});

Deno.test("loadConfig: LOG_LEVEL and LOG_FORMAT reject names of Object.prototype members", async (t) => {
  for (
    const [variable, value] of [["LOG_LEVEL", "constructor"], ["LOG_LEVEL", "__proto__"], ["LOG_FORMAT", "constructor"]]
  ) {
    await t.step(`${variable}=${value}`, () => {
      oneProblem({ [variable!]: value }, variable!);
    });
  }
});

Deno.test("loadConfig: booleans", async (t) => {
  const cases: [string, boolean][] = [
    ["true", true],
    ["TRUE", true],
    ["1", true],
    ["yes", true],
    ["On", true],
    ["false", false],
    ["False", false],
    ["0", false],
    ["no", false],
    ["OFF", false],
  ];
  for (const [value, want] of cases) {
    await t.step(value, () => {
      const c = loadConfig({ ENABLE_TIMESCALE: value, MIGRATE_ON_START: value }, HOST);
      assert.equal(c.enableTimescale, want);
      assert.equal(c.migrateOnStart, want);
    });
  }
});

Deno.test("loadConfig: seconds are converted to milliseconds", () => {
  const c = loadConfig({ BATCH_TIMEOUT_SEC: ".5", PROCESSING_INTERVAL_SEC: "0", SHUTDOWN_TIMEOUT_SEC: "+2" }, HOST);
  assert.equal(c.batchTimeoutMs, 500);
  assert.equal(c.processingIntervalMs, 0);
  assert.equal(c.shutdownTimeoutMs, 2000);
});

Deno.test("loadConfig: secrets never appear in problems", async (t) => {
  const SECRET = "Hunter2xyz";
  const cases: [string, Record<string, string>, RegExp?][] = [
    ["DATABASE_URL with a bad scheme", { DATABASE_URL: `mysql://writer:${SECRET}@db:3306/iot` }, /writer:\*\*\*@db/],
    ["DATABASE_URL with a bad port", { DATABASE_URL: `postgres://writer:${SECRET}@db:99999/iot` }, /writer:\*\*\*@db/],
    ["REDIS_URL with a bad db", { REDIS_URL: `redis://:${SECRET}@cache:6379/99` }, /redis:\/\/:\*\*\*@cache/],
    ["REDIS_URL with a bad scheme", { REDIS_URL: `http://user:${SECRET}@cache:6379` }, /user:\*\*\*@cache/],
    ["DATABASE_URL with '@' unencoded in the password", { DATABASE_URL: `mysql://writer:ab@${SECRET}@db/iot` }],
    ["REDIS_URL with '@' unencoded in the password", { REDIS_URL: `redis://:ab@${SECRET}@cache:6379/99` }],
    ["DATABASE_URL with '/' unencoded in the password", { DATABASE_URL: `postgres://writer:ab/${SECRET}@db:5432/iot` }],
    ["DATABASE_URL without a scheme", { DATABASE_URL: `writer:${SECRET}@db:5432/iot` }],
  ];
  for (const [name, env, shape] of cases) {
    await t.step(name, () => {
      const variable = Object.keys(env)[0]!;
      const p = oneProblem(env, variable);
      if (shape) assert.match(p, shape);
      assert.ok(!p.includes(SECRET), `secret shown: ${p}`);
      assert.ok(!p.includes(SECRET.slice(0, 4)), `part of the secret shown: ${p}`);
    });
  }
  await t.step("REDIS_PASSWORD is never shown, even with other problems", () => {
    const problems = problemsOf({ REDIS_PASSWORD: SECRET, REDIS_PORT: "nope", BATCH_SIZE: "-1" });
    assert.equal(problems.length, 2);
    for (const p of problems) assert.ok(!p.includes(SECRET), p);
    try {
      loadConfig({ REDIS_PASSWORD: SECRET, REDIS_PORT: "nope" }, HOST);
      assert.fail("expected ConfigError");
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.ok(!err.message.includes(SECRET));
      assert.ok(!String(err.stack).includes(SECRET));
    }
  });
});

Deno.test("maskUrl", async (t) => {
  const cases: [string, string][] = [
    ["postgres://writer:secret@db:5432/iot", "postgres://writer:***@db:5432/iot"],
    ["postgresql://writer:secret@db/iot?sslmode=require", "postgresql://writer:***@db/iot?sslmode=require"],
    ["redis://:secret@cache:6379/0", "redis://:***@cache:6379/0"],
    ["rediss://user:secret@cache", "rediss://user:***@cache"],
    ["postgres://writer@db:5432/iot", "postgres://writer@db:5432/iot"],
    ["postgres://db:5432/iot", "postgres://db:5432/iot"],
    // An `@` after the host is taken as the end of a password: over-masked, never leaked.
    ["redis://cache:6379/0?x=a@b", "redis://cache:***@b"],
    ["postgres://admin:Sup3r#x@db.example:5432/app", "postgres://admin:***@db.example:5432/app"],
    ["redis://:pw?x@cache:6379/0", "redis://:***@cache:6379/0"],
    ["not a url", "not a url"],
  ];
  for (const [input, want] of cases) {
    await t.step(input, () => assert.equal(maskUrl(input), want));
  }
});

Deno.test("redactedConfig hides every password", async (t) => {
  await t.step("from REDIS_URL and DATABASE_URL", () => {
    const c = loadConfig({
      REDIS_URL: "rediss://app:redispw@cache:6380/2",
      DATABASE_URL: "postgres://writer:dbpw@db:5432/iot",
    }, HOST);
    const r = redactedConfig(c);
    const text = JSON.stringify(r);
    assert.ok(!text.includes("redispw"), text);
    assert.ok(!text.includes("dbpw"), text);
    assert.equal(r.databaseUrl, "postgres://writer:***@db:5432/iot");
    assert.deepEqual(r.redis, { host: "cache", port: 6380, db: 2, username: "app", password: "***", tls: true });
    assert.equal(r.batchSize, 500);
    // the config itself is untouched
    assert.equal(c.redis.password, "redispw");
  });
  await t.step("from REDIS_PASSWORD", () => {
    const r = redactedConfig(loadConfig({ REDIS_PASSWORD: "pw-from-env" }, HOST));
    assert.ok(!JSON.stringify(r).includes("pw-from-env"));
    assert.equal((r.redis as { password?: string }).password, "***");
  });
  await t.step("no password: nothing to hide", () => {
    const r = redactedConfig(loadConfig({}, HOST));
    assert.equal((r.redis as { password?: string }).password, undefined);
    assert.equal(r.databaseUrl, "postgres://postgres@localhost:5432/postgres");
  });
});

Deno.test("loadConfig: WRITE_CONCURRENCY must leave a pool connection for health checks", () => {
  assert.equal(loadConfig({ WRITE_CONCURRENCY: "3", DB_POOL_SIZE: "4" }, HOST).writeConcurrency, 3);
  const p = oneProblem({ WRITE_CONCURRENCY: "4", DB_POOL_SIZE: "4" }, "WRITE_CONCURRENCY");
  assert.match(p, /expected less than DB_POOL_SIZE \(4\)/);
});

Deno.test("loadConfig: TimescaleDB intervals are validated and normalised", async (t) => {
  await t.step("accepted forms", () => {
    const c = loadConfig({
      ENABLE_TIMESCALE: "true",
      TIMESCALE_CHUNK_INTERVAL: "1 day",
      TIMESCALE_COMPRESS_AFTER: "7d",
      TIMESCALE_RETAIN_FOR: "12 Months",
    }, HOST);
    assert.deepEqual(c.timescale, { chunkInterval: "1 day", compressAfter: "7 days", retainFor: "12 months" });
  });
  for (
    const bad of ["7", "seven days", "7 fortnights", "0 days", "1 day; DROP TABLE x", "7 days 3 hours", "500ms", "5 hs"]
  ) {
    await t.step(`rejected: ${JSON.stringify(bad)}`, () => {
      const p = oneProblem({ ENABLE_TIMESCALE: "true", TIMESCALE_RETAIN_FOR: bad }, "TIMESCALE_RETAIN_FOR");
      assert.match(p, /expected an interval like 7 days, 12 hours, 1 month/);
      assert.ok(p.includes(JSON.stringify(bad)), p);
    });
  }
  await t.step("set without ENABLE_TIMESCALE=true: a problem naming both", () => {
    const p = oneProblem({ TIMESCALE_COMPRESS_AFTER: "7 days" }, "TIMESCALE_COMPRESS_AFTER");
    assert.match(p, /expected it unset unless ENABLE_TIMESCALE=true/);
  });
  await t.step("LAG_INTERVAL_SEC", () => {
    assert.equal(loadConfig({ LAG_INTERVAL_SEC: "0.5" }, HOST).lagIntervalMs, 500);
    assert.match(oneProblem({ LAG_INTERVAL_SEC: "0" }, "LAG_INTERVAL_SEC"), /seconds from 0.1 to 3600/);
  });
});

Deno.test("loadConfig: REDIS_CLUSTER_NODES selects cluster mode", async (t) => {
  await t.step("unset: a single server, no cluster key at all", () => {
    assert.equal("cluster" in loadConfig({}, HOST).redis, false);
  });
  await t.step("seed nodes, IPv6 in brackets, spaces and empty items ignored; credentials from REDIS_URL", () => {
    const c = loadConfig({
      REDIS_CLUSTER_NODES: " 10.0.0.1:7000, [::1]:7001 ,, redis-c:7002",
      REDIS_URL: "rediss://app:pw@ignored-host:1/0",
    }, HOST);
    assert.deepEqual(c.redis, {
      host: "10.0.0.1",
      port: 7000,
      db: 0,
      username: "app",
      password: "pw",
      tls: true,
      cluster: [{ host: "10.0.0.1", port: 7000 }, { host: "::1", port: 7001 }, { host: "redis-c", port: 7002 }],
    });
    assert.ok(Object.isFrozen(c.redis.cluster));
  });
  await t.step("REDIS_PASSWORD applies to every node", () => {
    const c = loadConfig({ REDIS_CLUSTER_NODES: "a:1", REDIS_PASSWORD: "s3cret" }, HOST);
    assert.equal(c.redis.password, "s3cret");
    assert.doesNotMatch(JSON.stringify(redactedConfig(c)), /s3cret/);
  });
  for (const bad of ["a", "a:", ":7000", "a:0", "a:65536", "a:70a", "a:1,b", "::1:7000", "a b:1", " , "]) {
    await t.step(`bad list ${JSON.stringify(bad)}`, () => {
      assert.match(
        oneProblem({ REDIS_CLUSTER_NODES: bad }, "REDIS_CLUSTER_NODES"),
        /expected a comma-separated list of host:port seed nodes/,
      );
    });
  }
  await t.step("a database other than 0 is refused (a cluster has only database 0)", () => {
    assert.match(oneProblem({ REDIS_CLUSTER_NODES: "a:1", REDIS_DB: "3" }, "REDIS_DB"), /got database 3, expected 0/);
    assert.match(
      oneProblem({ REDIS_CLUSTER_NODES: "a:1", REDIS_URL: "redis://h:1/2" }, "REDIS_URL"),
      /only database 0/,
    );
    assert.match(
      oneProblem({ REDIS_CLUSTER_NODES: "a:1", REDIS_URL: "redis://:pa%2Fss@h:1/4" }, "REDIS_URL"),
      /got database 4/,
    );
    assert.equal(loadConfig({ REDIS_CLUSTER_NODES: "a:1", REDIS_DB: "0" }, HOST).redis.db, 0);
  });
});
