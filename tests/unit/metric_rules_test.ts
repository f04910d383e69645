/**
 * Units and plausibility ranges per metric (pure), and METRIC_RULES /
 * RANGE_CHECKS as settings: defaults per layout, overrides, and bad values.
 */
import assert from "node:assert/strict";
import { MetricRules } from "../../src/decode/metric_rules.ts";
import { loadConfig } from "../../src/config/load.ts";
import { ConfigError } from "../../src/errors.ts";
import type { Reading } from "../../src/ports.ts";

function reading(metric: string, value: number, metadata: Record<string, unknown> | null = null): Reading {
  return {
    time: "2026-11-28T10:00:00Z",
    deviceId: "d",
    sensorType: metric,
    value,
    metadata,
    sourceStream: "s",
    sourceId: "1-0",
  };
}

const telemetry = new MetricRules({ ranges: true, units: true });

Deno.test("units: the message's first, else the metric's, aliases case-insensitive and trimmed", () => {
  const unit = (r: Reading) => {
    const out = telemetry.apply(r);
    assert.ok(out.ok);
    return out.reading.unit;
  };
  assert.equal(unit(reading("temperature", 20)), "°C");
  assert.equal(unit(reading(" TEMP ", 20)), "°C");
  assert.equal(unit(reading("Hum", 50)), "%");
  assert.equal(unit(reading("CO₂", 500)), "ppm");
  assert.equal(unit(reading("atm_pressure", 1000)), "hPa");
  assert.equal(unit(reading("illuminance", 10)), "lux");
  assert.equal(unit(reading("lux", 10)), "lux");
  assert.equal(unit(reading("sound", 10)), "dB");
  assert.equal(unit(reading("PM2.5", 10)), "µg/m³");
  assert.equal(unit(reading("pm_25", 10)), "µg/m³");
  assert.equal(unit(reading("voc", 10)), "ppb");
  assert.equal(unit(reading("temperature", 20, { unit: " °F " })), "°F");
  assert.equal(unit(reading("wind", 3)), null, "an unknown metric has no unit");
});

Deno.test("units: the stored metric keeps its name", () => {
  const out = telemetry.apply(reading(" Temp ", 20));
  assert.ok(out.ok);
  assert.equal(out.reading.sensorType, " Temp ");
});

Deno.test("ranges: outside is rejected with metric, value and range; bounds and unknown metrics pass", () => {
  const out = telemetry.apply(reading("temp", 60.5));
  assert.ok(!out.ok);
  assert.equal(out.class, "out_of_range");
  assert.match(
    out.reason,
    /metric "temp" \(rules of temperature\): value 60\.5 is outside the plausible range -50\.\.60 °C/,
  );
  assert.ok(telemetry.apply(reading("temperature", 60)).ok);
  assert.ok(telemetry.apply(reading("temperature", -50)).ok);
  assert.ok(!telemetry.apply(reading("humidity", -0.1)).ok);
  assert.ok(!telemetry.apply(reading("co2", 299)).ok);
  assert.ok(telemetry.apply(reading("wind", 1e9)).ok);
});

Deno.test("ranges off: everything passes; units off: no unit is added", () => {
  const rules = new MetricRules({ ranges: false, units: false });
  assert.equal(rules.active, false);
  const out = rules.apply(reading("temperature", 1000));
  assert.ok(out.ok);
  assert.equal(out.reading.unit, undefined);
});

Deno.test("overrides: replace a range, keep the built-in unit, add a metric, apply through an alias", () => {
  const rules = new MetricRules({
    ranges: true,
    units: true,
    overrides: { temperature: { min: -40, max: 85 }, wind: { min: 0, max: 75, unit: "m/s" }, co2: { unit: "ppm!" } },
  });
  const t = rules.apply(reading("temp", 80));
  assert.ok(t.ok);
  assert.equal(t.reading.unit, "°C");
  assert.ok(!rules.apply(reading("Temperature", 86)).ok);
  const w = rules.apply(reading("Wind", 10));
  assert.ok(w.ok);
  assert.equal(w.reading.unit, "m/s");
  assert.ok(!rules.apply(reading("wind", 76)).ok);
  const c = rules.apply(reading("co2", 10_000));
  assert.ok(!c.ok, "the built-in co2 range is kept when only the unit is overridden");
});

const HOST = { hostname: "h", pid: 1 };

Deno.test("RANGE_CHECKS: off with readings, on with telemetry, explicit wins", () => {
  assert.equal(loadConfig({}, HOST).rangeChecks, false);
  assert.equal(loadConfig({ TABLE_LAYOUT: "telemetry" }, HOST).rangeChecks, true);
  assert.equal(loadConfig({ TABLE_LAYOUT: "telemetry", RANGE_CHECKS: "off" }, HOST).rangeChecks, false);
  assert.equal(loadConfig({ RANGE_CHECKS: "true" }, HOST).rangeChecks, true);
});

Deno.test("METRIC_RULES: the list form and the JSON form", () => {
  assert.deepEqual(
    loadConfig({ METRIC_RULES: " Temperature=-40..85:°C , wind=:m/s,co2=400..1e4" }, HOST).metricRules,
    { temperature: { min: -40, max: 85, unit: "°C" }, wind: { unit: "m/s" }, co2: { min: 400, max: 10_000 } },
  );
  assert.deepEqual(
    loadConfig({ METRIC_RULES: '{"PM25": {"max": 500}, "wind": {"min": 0, "max": 75, "unit": "m/s"}}' }, HOST)
      .metricRules,
    { pm25: { max: 500 }, wind: { min: 0, max: 75, unit: "m/s" } },
  );
});

Deno.test("METRIC_RULES: each bad value is one clear problem naming it", async (t) => {
  const cases: [string, RegExp][] = [
    ["temperature", /is not metric=min\.\.max:unit/],
    ["temperature=hot", /"temperature=hot" is not metric=min\.\.max:unit/],
    ["temperature=10..-10", /min at most max for "temperature" \(got 10\.\.-10\)/],
    ["=1..2", /a metric name before each =/],
    ["temperature=", /a range or a unit for "temperature"/],
    ["temperature=1..2:", /a unit of 1 to 50 characters/],
    ["{", /the JSON does not parse/],
    ['{"t": 5}', /an object \{"min", "max", "unit"\} for "t"/],
    ['{"t": {"min": "1"}}', /numbers for min and max/],
    ['{"t": {"low": 1}}', /only min, max and unit for "t" \(got low\)/],
    ['{"t": {"min": 5, "max": 1}}', /min at most max/],
  ];
  for (const [value, want] of cases) {
    await t.step(value, () => {
      try {
        loadConfig({ METRIC_RULES: value }, HOST);
        assert.fail("expected a ConfigError");
      } catch (err) {
        assert.ok(err instanceof ConfigError, String(err));
        assert.equal(err.problems.length, 1, err.message);
        assert.ok(err.problems[0]!.startsWith("METRIC_RULES: got "), err.problems[0]);
        assert.match(err.problems[0]!, want);
      }
    });
  }
});
