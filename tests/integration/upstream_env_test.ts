/**
 * The iotDashboard writer's `.env` read from a file as it is, and the URL
 * the DB_* set makes read back by the driver (the pure configuration tests
 * are in tests/unit/upstream_env_test.ts).
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { loadConfig, readEnvironment } from "../../src/config/load.ts";
import { CURRENT_WRITER_ENV } from "../_helpers/iotdashboard.ts";

const HOST = { hostname: "box", pid: 1 };

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

Deno.test("DB_USER and DB_PASSWORD are percent-encoded into the URL, and the driver reads them back exactly", async () => {
  const password = "p@ss:w/rd%?#& é";
  const user = "iot user@x";
  const url = loadConfig({ DB_HOST: "db", DB_NAME: "iot", DB_USER: user, DB_PASSWORD: password }, HOST).databaseUrl;
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
