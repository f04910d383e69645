/**
 * Field validators for the settings table: each turns an environment string
 * into a typed value (its default when unset or blank) with zod, and says in
 * words what it accepts, for error messages and the generated docs alike.
 */
import { z } from "zod";
import type { LogLevel } from "../log.ts";

/** How one setting is read: the zod schema (string or nothing → value) and its words for people. */
export interface Field<T> {
  readonly schema: z.ZodType<T, string | undefined>;
  /** What a valid value looks like, e.g. "an integer from 1 to 100000". */
  readonly expected: string;
  /** The default as written in the docs and `.env.example`; empty when there is none. */
  readonly shownDefault: string;
}

/** A value that failed: one message per problem, each completing "expected …". */
export class Invalid {
  constructor(readonly messages: readonly string[]) {}
}

export function invalid(...messages: string[]): Invalid {
  return new Invalid(messages);
}

/**
 * A field from a parse function over the trimmed, non-empty value; unset or
 * blank gives `def`. With `trim: false` the value is taken as given (passwords).
 */
export function field<T>(
  expected: string,
  shownDefault: string,
  def: T,
  parse: (v: string) => T | Invalid,
  opts: { trim?: boolean } = {},
): Field<T> {
  const base = opts.trim === false ? z.string().optional() : z.string().trim().optional();
  const schema = base.transform((v, ctx): T => {
    if (v === undefined || v === "") return def;
    const out = parse(v);
    if (!(out instanceof Invalid)) return out;
    for (const message of out.messages) ctx.addIssue({ code: "custom", message });
    return z.NEVER;
  });
  return { schema: schema as unknown as z.ZodType<T, string | undefined>, expected, shownDefault };
}

/** Free text; unset gives `def`. */
export function text(def: string): Field<string>;
export function text(): Field<string | undefined>;
export function text(def?: string): Field<string | undefined> {
  return field("text", def ?? "", def, (v) => v);
}

/** A secret, taken exactly as given (spaces included); never shown. */
export function secret(): Field<string | undefined> {
  return field("text", "", undefined, (v) => v, { trim: false });
}

/** An integer in `[min, max]`. */
export function int(def: number, min: number, max: number): Field<number> {
  const expected = `an integer from ${min} to ${max}`;
  return field(expected, String(def), def, (v) => {
    if (!/^[+-]?\d+$/.test(v) || Number(v) < min || Number(v) > max) return invalid(expected);
    return Number(v);
  });
}

/** Seconds as a decimal (e.g. `0.5`), in `[min, max]`; the value is in milliseconds. */
export function seconds(def: number, min: number, max: number): Field<number> {
  const expected = `a number of seconds from ${min} to ${max}`;
  return field(expected, String(def), Math.round(def * 1000), (v) => {
    const n = Number(v);
    if (!/^\+?(\d+\.?\d*|\.\d+)$/.test(v) || n < min || n > max) return invalid(expected);
    return Math.round(n * 1000);
  });
}

/** Words accepted as true. */
export const TRUE_WORDS: ReadonlySet<string> = new Set(["true", "1", "yes", "on"]);
/** Words accepted as false. */
export const FALSE_WORDS: ReadonlySet<string> = new Set(["false", "0", "no", "off"]);

/** A boolean: true/false, 1/0, yes/no, on/off, any case. */
export function bool(def: boolean): Field<boolean> {
  const expected = "true or false (also 1/0, yes/no, on/off)";
  return field(expected, String(def), def, (v) => {
    const s = v.toLowerCase();
    if (TRUE_WORDS.has(s)) return true;
    if (FALSE_WORDS.has(s)) return false;
    return invalid(expected);
  });
}

/** One of `values` (any case), or an alias of one. */
export function oneOf<T extends string>(
  def: T,
  values: readonly T[],
  aliases: Record<string, T> = {},
  show: (value: string) => string = (value) => value,
): Field<T> {
  const expected = `one of ${values.map(show).join(", ")}`;
  return field(expected, show(def), def, (v) => {
    const s = v.toLowerCase();
    return values.find((x) => x === s) ?? (Object.hasOwn(aliases, s) ? aliases[s]! : invalid(expected));
  });
}

/** A log level; `WARN` is an alias of `WARNING`, and Python's `CRITICAL` (the iotDashboard writer's) of `ERROR`. */
export function logLevel(): Field<LogLevel> {
  return oneOf<LogLevel>(
    "info",
    ["debug", "info", "warning", "error"],
    { warn: "warning", critical: "error" },
    (v) => v.toUpperCase(),
  );
}

/** A name without spaces, at most 200 characters (consumer group, stream key). */
export function name(def: string): Field<string>;
export function name(def: undefined, shownDefault: string): Field<string | undefined>;
export function name(def: string | undefined, shownDefault = def ?? ""): Field<string | undefined> {
  const expected = "a name without spaces, at most 200 characters";
  return field(expected, shownDefault, def, (v) => (/\s/.test(v) || v.length > 200 ? invalid(expected) : v));
}

const INTERVAL_UNITS: Record<string, string> = {
  s: "second",
  sec: "second",
  second: "second",
  m: "minute",
  min: "minute",
  minute: "minute",
  h: "hour",
  hour: "hour",
  d: "day",
  day: "day",
  w: "week",
  week: "week",
  mon: "month",
  month: "month",
  y: "year",
  year: "year",
};

/**
 * A PostgreSQL interval of one whole number and a unit (`7 days`, `12h`,
 * `1 month`), normalised to `7 days`; safe to put in an SQL literal.
 */
export function parseInterval(v: string): string | undefined {
  // A plural "s" only after the long names ("7 days"), so that "500ms" is not "500 minutes".
  const m = /^(\d{1,6})\s*(?:(s|sec|m|min|h|d|w|mon|y)|(second|minute|hour|day|week|month|year)s?)$/i.exec(v.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = INTERVAL_UNITS[(m[2] ?? m[3])!.toLowerCase()];
  if (unit === undefined || n < 1) return undefined;
  return `${n} ${unit}${n === 1 ? "" : "s"}`;
}

/** An interval like `7 days`; unset means none. */
export function interval(): Field<string | undefined> {
  const expected = "an interval like 7 days, 12 hours, 1 month (or 7d, 12h)";
  return field(expected, "", undefined, (v) => parseInterval(v) ?? invalid(expected));
}
