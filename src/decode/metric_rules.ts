/**
 * Per-metric data rules: the unit a reading is stored with and the range of
 * values that is plausible for its metric. Built in: the iotDashboard
 * writer's table (units, ranges and metric aliases); METRIC_RULES overrides
 * or adds per metric. Pure: no I/O.
 */
import type { Decoded, Reading } from "../ports.ts";

/** What is known about one metric: a plausible range and a unit, each optional. */
export interface MetricRule {
  readonly min?: number;
  readonly max?: number;
  readonly unit?: string;
}

/** The built-in rules, by metric name (lower case). */
export const BUILT_IN_RULES: Readonly<Record<string, MetricRule>> = Object.freeze({
  temperature: { min: -50, max: 60, unit: "°C" },
  humidity: { min: 0, max: 100, unit: "%" },
  co2: { min: 300, max: 5000, unit: "ppm" },
  pressure: { min: 800, max: 1100, unit: "hPa" },
  light: { min: 0, max: 100_000, unit: "lux" },
  noise: { min: 0, max: 140, unit: "dB" },
  pm25: { min: 0, max: 1000, unit: "µg/m³" },
  voc: { min: 0, max: 5000, unit: "ppb" },
});

/** Other names of the built-in metrics, for lookup only: the stored metric keeps the name it came with. */
export const METRIC_ALIASES: Readonly<Record<string, string>> = Object.freeze({
  temp: "temperature",
  hum: "humidity",
  "co₂": "co2",
  atmospheric_pressure: "pressure",
  atm_pressure: "pressure",
  illuminance: "light",
  lux: "light",
  sound: "noise",
  "pm2.5": "pm25",
  pm_25: "pm25",
});

/** A metric name as rules are looked up: trimmed, lower case. */
export function ruleKey(metric: string): string {
  return metric.trim().toLowerCase();
}

/** How the rules apply. */
export interface MetricRulesOptions {
  /** Reject readings outside their metric's range (RANGE_CHECKS). */
  readonly ranges: boolean;
  /** Give each reading a unit: the message's, else its metric's (the `telemetry` layout). */
  readonly units: boolean;
  /** METRIC_RULES: per metric, replaces the built-in range and/or unit, or adds a metric. */
  readonly overrides?: Readonly<Record<string, MetricRule>>;
}

/** Applies units and plausibility ranges to decoded readings. */
export class MetricRules {
  readonly #rules = new Map<string, MetricRule>();

  constructor(private readonly opts: MetricRulesOptions) {
    for (const [name, rule] of Object.entries(BUILT_IN_RULES)) this.#rules.set(name, rule);
    for (const [name, rule] of Object.entries(opts.overrides ?? {})) {
      const key = ruleKey(name);
      this.#rules.set(key, { ...this.#rules.get(key), ...rule });
    }
  }

  /** True when applying the rules can change or reject anything. */
  get active(): boolean {
    return this.opts.ranges || this.opts.units;
  }

  /** The rule of `metric`: its own (built in or overridden), else its alias's; undefined for an unknown metric. */
  ruleOf(metric: string): { name: string; rule: MetricRule } | undefined {
    const key = ruleKey(metric);
    const own = this.#rules.get(key);
    if (own) return { name: key, rule: own };
    const alias = Object.hasOwn(METRIC_ALIASES, key) ? METRIC_ALIASES[key]! : undefined;
    const aliased = alias === undefined ? undefined : this.#rules.get(alias);
    return aliased ? { name: alias!, rule: aliased } : undefined;
  }

  /** The reading with its unit, or a rejection when its value is outside its metric's range. */
  apply(reading: Reading): Decoded {
    const found = this.ruleOf(reading.sensorType);
    if (this.opts.ranges && found) {
      const { min, max } = found.rule;
      if ((min !== undefined && reading.value < min) || (max !== undefined && reading.value > max)) {
        const via = found.name === ruleKey(reading.sensorType) ? "" : ` (rules of ${found.name})`;
        return {
          ok: false,
          reason: `metric ${JSON.stringify(reading.sensorType)}${via}: value ${reading.value} is outside the ` +
            `plausible range ${min ?? "-∞"}..${max ?? "∞"}${found.rule.unit ? ` ${found.rule.unit}` : ""}` +
            ` (RANGE_CHECKS turns the check off, METRIC_RULES changes the range)`,
          class: "out_of_range",
        };
      }
    }
    if (!this.opts.units) return { ok: true, reading };
    return { ok: true, reading: { ...reading, unit: messageUnit(reading) ?? found?.rule.unit ?? null } };
  }
}

/** The unit the message gave: its `unit` field or `metadata.unit` (decoding puts both there), trimmed. */
export function messageUnit(reading: Reading): string | undefined {
  const unit = reading.metadata?.unit;
  return typeof unit === "string" && unit.trim() !== "" ? unit.trim() : undefined;
}
