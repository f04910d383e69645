/** Rows of the settings table: metric rules (units and plausibility ranges). */
import { setting } from "../setting.ts";
import { bool } from "../fields.ts";
import { metricRules } from "../metric_rules_field.ts";

/** Metric rule settings. */
export const DATA_RULES = {
  rangeChecks: setting(
    "RANGE_CHECKS",
    "data",
    bool(false),
    "Dead-letter readings whose value is outside the plausible range of their metric (built in for temperature, " +
      "humidity, co2, pressure, light, noise, pm25 and voc, and their aliases; docs/data.md); other metrics pass.",
    { layoutDefaults: { telemetry: "true" } },
  ),
  metricRules: setting(
    "METRIC_RULES",
    "data",
    metricRules(),
    "Per-metric ranges and units that replace or add to the built-in ones: `metric=min..max:unit` items, comma " +
      "separated (the range or the `:unit` may be left out), or the same as JSON. Checked at start.",
    { example: "temperature=-40..85:°C,wind_speed=0..75:m/s" },
  ),
} as const;
