/**
 * TABLE_LAYOUT: `readings` keeps today's defaults; `telemetry` switches the
 * table, stream and dead-letter defaults to the iotDashboard writer's, and
 * anything set explicitly still wins.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../src/config/load.ts";
import { ConfigError } from "../../src/errors.ts";
import { SETTING_LIST } from "../../src/config/settings.ts";

const HOST = { hostname: "box", pid: 1 };

Deno.test("TABLE_LAYOUT unset: readings, today's defaults", () => {
  const c = loadConfig({}, HOST);
  assert.equal(c.tableLayout, "readings");
  assert.deepEqual(c.table, { name: "sensor_readings" });
  assert.equal(c.deadLetterStream, "mqtt_stream:failed");
  assert.equal(c.deadLetterMaxLen, 0);
});

Deno.test("TABLE_LAYOUT=telemetry: the current writer's table, stream and dead-letter stream", () => {
  const c = loadConfig({ TABLE_LAYOUT: "telemetry" }, HOST);
  assert.equal(c.tableLayout, "telemetry");
  assert.deepEqual(c.table, { name: "telemetry" });
  assert.deepEqual(c.streamPatterns, ["mqtt:ingestion"]);
  assert.equal(c.deadLetterStream, "mqtt:dlq");
  assert.equal(c.deadLetterMaxLen, 10_000);
});

Deno.test("TABLE_LAYOUT=telemetry: explicit settings win over its defaults", () => {
  const c = loadConfig({
    TABLE_LAYOUT: "Telemetry",
    TABLE_NAME: "iot.telemetry",
    STREAM_PATTERN: "a:*",
    DEAD_LETTER_STREAM: "a_failed",
    DEAD_LETTER_MAXLEN: "0",
  }, HOST);
  assert.deepEqual(c.table, { schema: "iot", name: "telemetry" });
  assert.deepEqual(c.streamPatterns, ["a:*"]);
  assert.equal(c.deadLetterStream, "a_failed");
  assert.equal(c.deadLetterMaxLen, 0);
});

Deno.test("TABLE_LAYOUT: a bad value is one problem naming it; the other defaults stay readings'", () => {
  try {
    loadConfig({ TABLE_LAYOUT: "timeseries" }, HOST);
    assert.fail("expected a ConfigError");
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.deepEqual(err.problems, ['TABLE_LAYOUT: got "timeseries", expected one of readings, telemetry']);
  }
});

Deno.test("every layout default is a valid value of its setting", () => {
  for (const s of SETTING_LIST) {
    for (const [layout, raw] of Object.entries(s.layoutDefaults ?? {})) {
      assert.ok(s.schema.safeParse(raw).success, `${s.env} under ${layout}: ${raw}`);
    }
  }
});
