/**
 * The shape of one row of the settings table (see settings.ts): a field
 * validator plus the variable's name, group, description and secrecy.
 */
import type { Field } from "./fields.ts";
import type { Layout } from "../sink/layout.ts";

/** Sections of the docs and `.env.example`, in order. */
export const GROUPS = {
  redis: "Redis",
  database: "PostgreSQL",
  consuming: "Consuming",
  reliability: "Reliability",
  logging: "Logging",
  http: "HTTP (health and metrics)",
  migrations: "Migrations",
  timescale: "TimescaleDB (only with ENABLE_TIMESCALE=true)",
  limits: "Input limits",
  data: "Metric rules (units and plausibility ranges)",
} as const;

/** One of {@link GROUPS}. */
export type Group = keyof typeof GROUPS;

/** How a value may be shown: as is, as a URL with its password masked, or never. */
export type Visibility = "plain" | "url" | "secret";

/** Another environment name accepted for a setting (the canonical name wins when both are set). */
export interface Alias {
  readonly env: string;
  /** Turns the alias's value into the canonical setting's form (e.g. milliseconds into seconds). */
  readonly convert?: (raw: string) => string;
  /** Where the name comes from, for the docs (e.g. "the iotDashboard writer"). */
  readonly note?: string;
  /** What the alias accepts, in its own terms, for error messages (default: the setting's `expected`). */
  readonly expected?: string;
}

/** One row of the table. */
export interface Setting<T> extends Field<T> {
  readonly env: string;
  readonly group: Group;
  /** What it does, for people: one or two sentences, no default or range (those are generated). */
  readonly doc: string;
  readonly visibility?: Visibility;
  readonly aliases?: readonly Alias[];
  /**
   * The default under another TABLE_LAYOUT, as the variable would be written
   * (e.g. `{ telemetry: "mqtt:dlq" }`); validated like a given value.
   */
  readonly layoutDefaults?: Readonly<Partial<Record<Layout, string>>>;
  /** An example value for `.env.example` when the default says little (e.g. a URL with TLS). */
  readonly example?: string;
}

/** One row of the table: `setting("BATCH_SIZE", "consuming", int(500, 1, 100_000), "Most entries …")`. */
export function setting<T>(
  env: string,
  group: Group,
  field: Field<T>,
  doc: string,
  more: Partial<Setting<T>> = {},
): Setting<T> {
  return { env, group, doc, ...field, ...more };
}

/** The value a setting takes when unset, exactly as configuration loading reads it (seconds in ms, say). */
export function defaultOf<T>(s: Field<T>): T {
  return s.schema.parse(undefined);
}
