/**
 * Configuration: environment (and `.env`) → a frozen, typed {@link Config}.
 * Every setting of the table is validated; all problems are reported at once,
 * one line each, secrets masked.
 */
import { parseEnv } from "node:util";
import { ConfigError } from "../errors.ts";
import type { RedisSettings } from "../source/redis.ts";
import type { TimescaleSettings } from "../sink/migrations/timescale.ts";
import { CONFIG_VARIABLES, SETTING_LIST, SETTINGS, type Settings } from "./settings.ts";
import type { Layout } from "../sink/layout.ts";
import { crossProblems } from "./rules.ts";
import { shown } from "./redact.ts";
import { databaseUrlFromParts, usesDatabaseParts } from "./database_parts.ts";

/** Settings that are assembled into a structure of their own in {@link Config}. */
type Assembled =
  | "redisUrl"
  | "redisHost"
  | "redisPort"
  | "redisDb"
  | "redisPassword"
  | "redisUsername"
  | "redisTls"
  | "redisTlsCaFile"
  | "redisTlsCertFile"
  | "redisTlsKeyFile"
  | "redisClusterNodes"
  | "timescaleChunkInterval"
  | "timescaleCompressAfter"
  | "timescaleRetainFor"
  | "consumerName"
  | "dbHost"
  | "dbPort"
  | "dbName"
  | "dbUser"
  | "dbPassword";

/** The service's whole configuration; see docs/configuration.md for every variable. */
export type Config = Readonly<
  Omit<Settings, Assembled> & {
    readonly redis: RedisSettings;
    /** TimescaleDB chunk, compression and retention settings (used with `enableTimescale`). */
    readonly timescale: TimescaleSettings;
    readonly consumerName: string;
  }
>;

/** Where a setting's raw value came from (its own name or an alias), and what that name accepts if it says so. */
interface Raw {
  readonly from: string;
  readonly raw?: string;
  readonly expected?: string;
}

/** The layout the environment asks for; the default when TABLE_LAYOUT is invalid (reported on its own). */
function chosenLayout(env: Readonly<Record<string, string | undefined>>): Layout {
  const parsed = SETTINGS.tableLayout.schema.safeParse(env[SETTINGS.tableLayout.env]);
  return parsed.success ? parsed.data : SETTINGS.tableLayout.schema.parse(undefined);
}

/**
 * The raw value of each setting: its own variable, else the first alias given
 * (converted to its form), else its default under the chosen TABLE_LAYOUT.
 */
function rawValues(env: Readonly<Record<string, string | undefined>>): Map<string, Raw> {
  const out = new Map<string, Raw>();
  const layout = chosenLayout(env);
  for (const s of SETTING_LIST) {
    let pick: Raw = { from: s.env, raw: env[s.env] };
    if ((pick.raw?.trim() ?? "") === "") {
      for (const alias of s.aliases ?? []) {
        const raw = env[alias.env];
        if ((raw?.trim() ?? "") === "") continue;
        pick = {
          from: alias.env,
          raw: alias.convert ? alias.convert(raw!) : raw,
          ...(alias.expected ? { expected: alias.expected } : {}),
        };
        break;
      }
    }
    const layoutDefault = s.layoutDefaults?.[layout];
    if ((pick.raw?.trim() ?? "") === "" && layoutDefault !== undefined) pick = { from: s.env, raw: layoutDefault };
    out.set(s.key, pick);
  }
  return out;
}

/**
 * Validates an environment into a frozen {@link Config}.
 * @throws {ConfigError} listing every problem, one line per variable.
 */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>>,
  host: { hostname: string; pid: number } = { hostname: "db-writer", pid: 0 },
): Config {
  const values: Record<string, unknown> = {};
  const problems: string[] = [];
  const raws = rawValues(env);
  for (const s of SETTING_LIST) {
    const { from, raw, expected } = raws.get(s.key)!;
    const parsed = s.schema.safeParse(raw);
    if (parsed.success) values[s.key] = parsed.data;
    else if (expected !== undefined) {
      problems.push(`${from}: got ${shown(from, env[from])}, expected ${expected} (read as ${s.env})`);
    } else {
      for (const issue of parsed.error.issues) {
        problems.push(`${from}: got ${shown(from, env[from])}, expected ${issue.message}`);
      }
    }
  }
  problems.push(...crossProblems({ env, values: values as Partial<Settings> }));
  if (problems.length > 0) throw new ConfigError(problems);
  return assemble(values as Settings, host, usesDatabaseParts(env));
}

function assemble(v: Settings, host: { hostname: string; pid: number }, fromParts: boolean): Config {
  const {
    redisUrl,
    redisHost,
    redisPort,
    redisDb,
    redisPassword,
    redisUsername,
    redisTls,
    redisTlsCaFile,
    redisTlsCertFile,
    redisTlsKeyFile,
    redisClusterNodes,
    timescaleChunkInterval,
    timescaleCompressAfter,
    timescaleRetainFor,
    consumerName,
    dbHost,
    dbPort,
    dbName,
    dbUser,
    dbPassword,
    ...rest
  } = v;
  // The rules made sure the DB_* set is whole when it decides.
  const databaseUrl = fromParts
    ? databaseUrlFromParts({ host: dbHost!, port: dbPort, name: dbName!, user: dbUser!, password: dbPassword! })
    : rest.databaseUrl;
  const server: RedisSettings = {
    ...(redisUrl ?? {
      host: redisHost,
      port: redisPort,
      db: redisDb,
      ...(redisUsername ? { username: redisUsername } : {}),
      password: redisPassword,
      tls: redisTls,
    }),
    ...(redisTlsCaFile ? { tlsCaFile: redisTlsCaFile } : {}),
    ...(redisTlsCertFile ? { tlsCertFile: redisTlsCertFile } : {}),
    ...(redisTlsKeyFile ? { tlsKeyFile: redisTlsKeyFile } : {}),
  };
  // Cluster mode: the seed nodes replace host and port; credentials and TLS apply to every node.
  const redis = redisClusterNodes
    ? {
      ...server,
      host: redisClusterNodes[0]!.host,
      port: redisClusterNodes[0]!.port,
      cluster: Object.freeze([...redisClusterNodes]),
    }
    : server;
  return Object.freeze({
    ...rest,
    databaseUrl,
    redis: Object.freeze(redis),
    consumerName: consumerName ?? `${host.hostname}-${host.pid}`,
    timescale: Object.freeze({
      chunkInterval: timescaleChunkInterval,
      compressAfter: timescaleCompressAfter,
      retainFor: timescaleRetainFor,
    }),
  });
}

/**
 * The configuration variables present in the process environment. Reads each
 * by name, so the process needs env access to these names only.
 */
export function processEnvironment(
  get: (name: string) => string | undefined = (name) => Deno.env.get(name),
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of CONFIG_VARIABLES) {
    const value = get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/**
 * The environment as the service sees it: `.env` (if present) overlaid by
 * real environment variables, which always win.
 * @throws {ConfigError} when `.env` exists but cannot be read.
 */
export function readEnvironment(
  processEnv: Record<string, string>,
  dotenvPath = ".env",
): Record<string, string> {
  let fromFile: Record<string, string> = {};
  try {
    fromFile = { ...parseEnv(Deno.readTextFileSync(dotenvPath)) } as Record<string, string>;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) {
      throw new ConfigError([`.env: cannot read ${dotenvPath}: ${(err as Error).message}`]);
    }
  }
  return { ...fromFile, ...processEnv };
}
