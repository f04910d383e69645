/**
 * One entry to one reading as the pipeline does it (decode, then the metric
 * rules), and the rules a configuration asks for.
 */
import type { Decoded, Reading, StreamEntry } from "../ports.ts";
import { decode } from "./decode.ts";
import type { DecodeLimits } from "./limits.ts";
import { type MetricRule, MetricRules } from "./metric_rules.ts";

/** The reading an entry gives, or undefined when it would be dead-lettered. */
export function readEntry(
  entry: StreamEntry,
  limits: DecodeLimits,
  check?: (reading: Reading) => Decoded,
): Reading | undefined {
  let decoded = decode(entry, limits);
  if (decoded.ok && check) decoded = check(decoded.reading);
  return decoded.ok ? decoded.reading : undefined;
}

/** The metric rules of a configuration: units with the `telemetry` layout, ranges with RANGE_CHECKS. */
export function metricRulesOf(config: {
  readonly tableLayout: string;
  readonly rangeChecks: boolean;
  readonly metricRules: Readonly<Record<string, MetricRule>>;
}): MetricRules {
  return new MetricRules({
    ranges: config.rangeChecks,
    units: config.tableLayout === "telemetry",
    overrides: config.metricRules,
  });
}
