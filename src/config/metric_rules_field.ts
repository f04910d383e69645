/**
 * The METRIC_RULES field: per-metric ranges and units, as a comma list
 * (`temperature=-40..85:°C,co2=400..10000,wind=:m/s`) or a JSON object
 * (`{"temperature": {"min": -40, "max": 85, "unit": "°C"}}`).
 */
import { type MetricRule, ruleKey } from "../decode/metric_rules.ts";
import { type Field, field, type Invalid, invalid } from "./fields.ts";

const EXPECTED = "a comma list of metric=min..max:unit (range or :unit may be left out, e.g. " +
  'temperature=-40..85:°C,wind=:m/s) or a JSON object like {"co2": {"min": 400, "max": 10000, "unit": "ppm"}}';

const NUMBER = String.raw`[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?`;
const ITEM_RE = new RegExp(String.raw`^(?:(${NUMBER})\s*\.\.\s*(${NUMBER}))?\s*(?::\s*(.*))?$`);

function checked(name: string, rule: MetricRule): MetricRule | string {
  if (ruleKey(name) === "") return "a metric name before each =";
  if (rule.min === undefined && rule.max === undefined && rule.unit === undefined) {
    return `a range or a unit for ${JSON.stringify(name)}`;
  }
  if (rule.min !== undefined && rule.max !== undefined && rule.min > rule.max) {
    return `min at most max for ${JSON.stringify(name)} (got ${rule.min}..${rule.max})`;
  }
  if (rule.unit !== undefined && (rule.unit.trim() === "" || rule.unit.length > 50)) {
    return `a unit of 1 to 50 characters for ${JSON.stringify(name)}`;
  }
  return rule;
}

function fromList(v: string): Record<string, MetricRule> | Invalid {
  const out: Record<string, MetricRule> = {};
  for (const item of v.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
    const eq = item.indexOf("=");
    const m = eq < 0 ? null : ITEM_RE.exec(item.slice(eq + 1).trim());
    if (!m) return invalid(`${EXPECTED}; ${JSON.stringify(item)} is not metric=min..max:unit`);
    const name = item.slice(0, eq);
    const rule = checked(name, {
      ...(m[1] !== undefined ? { min: Number(m[1]), max: Number(m[2]) } : {}),
      ...(m[3] !== undefined ? { unit: m[3].trim() } : {}),
    });
    if (typeof rule === "string") return invalid(rule);
    out[ruleKey(name)] = rule;
  }
  return Object.keys(out).length === 0 ? invalid(EXPECTED) : out;
}

function fromJson(v: string): Record<string, MetricRule> | Invalid {
  let parsed: unknown;
  try {
    parsed = JSON.parse(v);
  } catch (err) {
    return invalid(`${EXPECTED}; the JSON does not parse: ${(err as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return invalid(EXPECTED);
  const out: Record<string, MetricRule> = {};
  for (const [name, raw] of Object.entries(parsed)) {
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
      return invalid(`an object {"min", "max", "unit"} for ${JSON.stringify(name)}`);
    }
    const { min, max, unit, ...extra } = raw as Record<string, unknown>;
    const stray = Object.keys(extra);
    if (stray.length > 0) {
      return invalid(`only min, max and unit for ${JSON.stringify(name)} (got ${stray.join(", ")})`);
    }
    const num = (x: unknown) => x === undefined || (typeof x === "number" && Number.isFinite(x));
    if (!num(min) || !num(max) || (unit !== undefined && typeof unit !== "string")) {
      return invalid(`numbers for min and max and a string for unit of ${JSON.stringify(name)}`);
    }
    const rule = checked(name, {
      ...(min !== undefined ? { min: min as number } : {}),
      ...(max !== undefined ? { max: max as number } : {}),
      ...(unit !== undefined ? { unit: (unit as string).trim() } : {}),
    });
    if (typeof rule === "string") return invalid(rule);
    out[ruleKey(name)] = rule;
  }
  return out;
}

/** Per-metric overrides of the built-in rules; unset: none. */
export function metricRules(): Field<Readonly<Record<string, MetricRule>>> {
  return field(EXPECTED, "", Object.freeze({}), (v) => Object.freeze(v.startsWith("{") ? fromJson(v) : fromList(v)));
}
