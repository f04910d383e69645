/**
 * The `.env` overlay of configuration loading: real files in a temporary
 * directory (the pure configuration tests are in tests/unit/config_test.ts).
 */
import assert from "node:assert/strict";
import { loadConfig, readEnvironment } from "../../src/config/load.ts";
import { ConfigError } from "../../src/errors.ts";

const HOST = { hostname: "box", pid: 4242 };

Deno.test("readEnvironment overlays real environment on .env", async (t) => {
  const path = await Deno.makeTempFile({ suffix: ".env" });
  try {
    await Deno.writeTextFile(
      path,
      [
        "# comment",
        "REDIS_HOST=from-file",
        "BATCH_SIZE=250",
        'TABLE_NAME="iot.sensor_readings"',
        "LOG_LEVEL=debug",
        "",
      ].join("\n"),
    );
    await t.step(".env values are used", () => {
      const env = readEnvironment({}, path);
      assert.equal(env.REDIS_HOST, "from-file");
      assert.equal(env.BATCH_SIZE, "250");
      assert.equal(env.TABLE_NAME, "iot.sensor_readings");
      assert.equal(env.LOG_LEVEL, "debug");
    });
    await t.step("real environment wins", () => {
      const env = readEnvironment({ REDIS_HOST: "from-env", OTHER: "x" }, path);
      assert.equal(env.REDIS_HOST, "from-env");
      assert.equal(env.BATCH_SIZE, "250");
      assert.equal(env.OTHER, "x");
    });
    await t.step("a real variable set to empty still wins", () => {
      assert.equal(readEnvironment({ BATCH_SIZE: "" }, path).BATCH_SIZE, "");
    });
    await t.step("feeds loadConfig", () => {
      const c = loadConfig(readEnvironment({ LOG_LEVEL: "ERROR" }, path), HOST);
      assert.equal(c.redis.host, "from-file");
      assert.equal(c.batchSize, 250);
      assert.deepEqual(c.table, { schema: "iot", name: "sensor_readings" });
      assert.equal(c.logLevel, "error");
    });
  } finally {
    await Deno.remove(path);
  }
  await t.step("a missing .env is fine", async () => {
    const dir = await Deno.makeTempDir();
    try {
      assert.deepEqual(readEnvironment({ A: "1" }, `${dir}/.env`), { A: "1" });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
  await t.step("an unreadable .env (a directory) is a ConfigError naming the path", async () => {
    const dir = await Deno.makeTempDir();
    try {
      assert.throws(
        () => readEnvironment({}, dir),
        (err: unknown) => err instanceof ConfigError && err.problems.length === 1 && err.problems[0]!.includes(dir),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});
