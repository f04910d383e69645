/**
 * THE settings table: every environment variable the service reads, once,
 * with its validator, default, group, description and secrecy (the rows live
 * in settings/, one file per group). The schema that validates the
 * environment, the typed settings, `.env.example`, the configuration
 * reference (docs/configuration.md) and the `--allow-env` list of
 * service.flags all come from here (`deno task gen`; a test fails when a
 * generated file is stale). See CONTRIBUTING.md, "Adding a setting".
 */
import type { z } from "zod";
import type { Setting } from "./setting.ts";
import { REDIS } from "./settings/redis.ts";
import { DATABASE, TIMESCALE } from "./settings/database.ts";
import { DATABASE_PARTS } from "./settings/database_parts.ts";
import { CONSUMING } from "./settings/consuming.ts";
import { RELIABILITY } from "./settings/reliability.ts";
import { HTTP, LOGGING, MIGRATIONS } from "./settings/operations.ts";
import { LIMITS } from "./settings/limits.ts";
import { DATA_RULES } from "./settings/data_rules.ts";

/** Every setting, keyed by its name in the typed settings, in the order of the docs. */
export const SETTINGS = {
  ...REDIS,
  ...DATABASE,
  ...DATABASE_PARTS,
  ...CONSUMING,
  ...RELIABILITY,
  ...LOGGING,
  ...HTTP,
  ...MIGRATIONS,
  ...TIMESCALE,
  ...LIMITS,
  ...DATA_RULES,
} as const satisfies Record<string, Setting<unknown>>;

/** The name of one setting in {@link SETTINGS}. */
export type SettingKey = keyof typeof SETTINGS;

/** Every setting's value, typed from the table. */
export type Settings = { readonly [K in SettingKey]: z.output<(typeof SETTINGS)[K]["schema"]> };

/** The rows of the table, in order. */
export const SETTING_LIST: readonly (Setting<unknown> & { readonly key: SettingKey })[] = Object.entries(SETTINGS)
  .map(([key, s]) => ({ ...s, key: key as SettingKey }));

/** Every environment name the configuration reads (canonical names, then aliases), in table order. */
export const CONFIG_VARIABLES: readonly string[] = Object.freeze(
  SETTING_LIST.flatMap((s) => [s.env, ...(s.aliases ?? []).map((a) => a.env)]),
);

/**
 * Variables the libraries read by themselves, allowed next to {@link CONFIG_VARIABLES}:
 * postgres.js takes PGHOST, PGPORT, PGDATABASE, PGUSER/PGUSERNAME and PGPASSWORD for
 * whatever DATABASE_URL leaves out (as psql does). Everything else a library asks
 * for reads as unset (`--ignore-env`): the `debug` module under ioredis lists the
 * whole environment at start-up, and DEBUG would print Redis commands, passwords
 * included; postgres.js's tuning variables (PGSSL, PGPREPARE, …) would override
 * what DATABASE_URL says.
 */
export const LIBRARY_VARIABLES: readonly string[] = Object.freeze([
  "PGHOST",
  "PGPORT",
  "PGDATABASE",
  "PGUSER",
  "PGUSERNAME",
  "PGPASSWORD",
]);
