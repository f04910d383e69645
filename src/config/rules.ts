/**
 * Rules that involve more than one setting. Each judges the values that
 * parsed (defaults included, from the table), never restates a default, and
 * is skipped when a value it needs is itself invalid (reported on its own).
 */
import type { Settings } from "./settings.ts";
import { FALSE_WORDS, TRUE_WORDS } from "./fields.ts";
import { shown } from "./redact.ts";
import { missingDatabaseParts } from "./database_parts.ts";

/** The raw environment and the settings that parsed. */
export interface RuleInput {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly values: Partial<Settings>;
}

type Rule = (input: RuleInput) => string[];

const isSet = (env: RuleInput["env"], name: string) => (env[name]?.trim() ?? "") !== "";

const retryBounds: Rule = ({ values: v }) =>
  v.retryInitialMs !== undefined && v.retryMaxMs !== undefined && v.retryMaxMs < v.retryInitialMs
    ? [`RETRY_MAX_MS: got ${v.retryMaxMs}, expected at least RETRY_INITIAL_MS (${v.retryInitialMs})`]
    : [];

const poolRoom: Rule = ({ values: v }) =>
  v.dbPoolSize !== undefined && v.writeConcurrency !== undefined && v.writeConcurrency >= v.dbPoolSize
    ? [
      `WRITE_CONCURRENCY: got ${v.writeConcurrency}, expected less than DB_POOL_SIZE (${v.dbPoolSize}), ` +
      `which also serves health checks`,
    ]
    : [];

const deadLetterNotInput: Rule = ({ env, values: v }) =>
  v.streamPatterns !== undefined && v.deadLetterStream !== undefined &&
    v.streamPatterns.includes(v.deadLetterStream)
    ? [
      `STREAM_PATTERN: got ${shown("STREAM_PATTERN", env.STREAM_PATTERN)}, expected not to name the dead-letter ` +
      `stream ${JSON.stringify(v.deadLetterStream)} (it is never consumed)`,
    ]
    : [];

const TIMESCALE_VARIABLES = ["TIMESCALE_CHUNK_INTERVAL", "TIMESCALE_COMPRESS_AFTER", "TIMESCALE_RETAIN_FOR"];

const timescaleOnly: Rule = ({ env, values: v }) =>
  v.enableTimescale !== false
    ? []
    : TIMESCALE_VARIABLES.filter((name) => isSet(env, name)).map((name) =>
      `${name}: got ${shown(name, env[name])}, expected it unset unless ENABLE_TIMESCALE=true ` +
      `(it applies to a TimescaleDB hypertable only)`
    );

/**
 * REDIS_TLS_* files given while TLS is off, a client certificate without its
 * key, or REDIS_TLS / REDIS_USERNAME beside a REDIS_URL that says otherwise.
 */
const redisTls: Rule = ({ env }) => {
  const problems: string[] = [];
  const url = env.REDIS_URL?.trim() ?? "";
  const flag = env.REDIS_TLS?.trim().toLowerCase() ?? "";
  // undefined: REDIS_TLS itself is invalid and reported on its own.
  const tls = url !== ""
    ? /^rediss:/i.test(url)
    : flag === "" || FALSE_WORDS.has(flag)
    ? false
    : TRUE_WORDS.has(flag) || undefined;
  for (const name of ["REDIS_TLS_CA_FILE", "REDIS_TLS_CERT_FILE", "REDIS_TLS_KEY_FILE"]) {
    if (isSet(env, name) && tls === false) {
      problems.push(
        `${name}: got ${shown(name, env[name])}, expected TLS to be on (a rediss:// REDIS_URL, or REDIS_TLS=true)`,
      );
    }
  }
  if (url !== "" && (TRUE_WORDS.has(flag) || FALSE_WORDS.has(flag)) && TRUE_WORDS.has(flag) !== tls) {
    problems.push(
      `REDIS_TLS: got ${shown("REDIS_TLS", env.REDIS_TLS)}, expected it unset or in step with REDIS_URL, ` +
        `which decides when set (rediss:// for TLS, redis:// without)`,
    );
  }
  if (url !== "" && isSet(env, "REDIS_USERNAME")) {
    problems.push(
      `REDIS_USERNAME: got ${shown("REDIS_USERNAME", env.REDIS_USERNAME)}, expected it unset when REDIS_URL is set ` +
        `(put the user in the URL: redis://user:password@host:port/db)`,
    );
  }
  if (tls !== false && isSet(env, "REDIS_TLS_CERT_FILE") !== isSet(env, "REDIS_TLS_KEY_FILE")) {
    const missing = isSet(env, "REDIS_TLS_CERT_FILE") ? "REDIS_TLS_KEY_FILE" : "REDIS_TLS_CERT_FILE";
    problems.push(`${missing}: got nothing, expected a PEM file: a client certificate and its key go together`);
  }
  return problems;
};

/** A cluster has only database 0. */
const clusterDatabase: Rule = ({ values: v }) => {
  if (!v.redisClusterNodes) return [];
  const fromUrl = v.redisUrl !== undefined;
  const db = fromUrl ? v.redisUrl!.db : v.redisDb;
  if (db === undefined || db === 0) return [];
  return [
    `${fromUrl ? "REDIS_URL" : "REDIS_DB"}: got database ${db}, expected 0 with REDIS_CLUSTER_NODES ` +
    `(a cluster has only database 0)`,
  ];
};

/** DB_HOST, DB_NAME, DB_USER, DB_PASSWORD: all or none (unless DATABASE_URL is set, which wins). */
const databaseParts: Rule = ({ env }) => missingDatabaseParts(env);

/** Settings that only work as a pair. */
const pairs: Rule = ({ env }) =>
  [["HTTP_TLS_CERT_FILE", "HTTP_TLS_KEY_FILE"], ["HTTP_BASIC_AUTH_USER", "HTTP_BASIC_AUTH_PASSWORD"]].flatMap(
    ([a, b]) =>
      isSet(env, a!) === isSet(env, b!)
        ? []
        : [`${isSet(env, a!) ? b : a}: expected it set, since ${isSet(env, a!) ? a : b} is set (they go together)`],
  );

/** Every rule, in the order their problems are listed. */
export const RULES: readonly Rule[] = [
  databaseParts,
  pairs,
  retryBounds,
  poolRoom,
  redisTls,
  deadLetterNotInput,
  timescaleOnly,
  clusterDatabase,
];

/** The problems every rule finds. */
export function crossProblems(input: RuleInput): string[] {
  return RULES.flatMap((rule) => rule(input));
}
