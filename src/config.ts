/**
 * Configuration: environment (and `.env`) → a frozen, typed {@link Config}.
 * One zod schema validates every variable; all problems are reported at once.
 */
import { z } from "zod";
import { parseEnv } from "node:util";
import { ConfigError } from "./errors.ts";
import { databaseSslParams, SSL_MODES } from "./tls.ts";

/** Connection settings for Redis, from `REDIS_URL` or the four `REDIS_*` variables. */
export interface RedisSettings {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username?: string;
  readonly password?: string;
  readonly tls: boolean;
  /** PEM file of the CA(s) that sign the server's certificate (`REDIS_TLS_CA_FILE`); system CAs when unset. */
  readonly tlsCaFile?: string;
  /** PEM client certificate (`REDIS_TLS_CERT_FILE`), for servers that require one. */
  readonly tlsCertFile?: string;
  /** PEM private key of the client certificate (`REDIS_TLS_KEY_FILE`). */
  readonly tlsKeyFile?: string;
  /** Seed nodes of a Redis Cluster (REDIS_CLUSTER_NODES); absent for a single server. */
  readonly cluster?: readonly RedisNode[];
}

/** One `host:port` of REDIS_CLUSTER_NODES. */
export interface RedisNode {
  readonly host: string;
  readonly port: number;
}

/** The target table, validated as plain SQL identifiers. */
export interface TableName {
  readonly schema?: string;
  readonly name: string;
}

/** The service's whole configuration; see `.env.example` for every variable. */
export interface Config {
  readonly redis: RedisSettings;
  readonly databaseUrl: string;
  readonly consumerGroup: string;
  readonly consumerName: string;
  readonly batchSize: number;
  readonly batchTimeoutMs: number;
  readonly processingIntervalMs: number;
  readonly streamPatterns: readonly string[];
  readonly deadLetterStream: string;
  readonly deadLetterMaxLen: number;
  readonly table: TableName;
  readonly enableTimescale: boolean;
  readonly logLevel: LogLevel;
  readonly logFormat: "json" | "console";
  readonly httpPort: number;
  readonly httpHost: string;
  readonly migrateOnStart: boolean;
  readonly claimMinIdleMs: number;
  readonly maxDeliveries: number;
  readonly consumerRemoveIdleMs: number;
  readonly discoveryIntervalMs: number;
  readonly shutdownTimeoutMs: number;
  readonly statsIntervalMs: number;
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  readonly dbPoolSize: number;
  readonly writeConcurrency: number;
  /** How often consumer lag and pending entries are read from Redis (ms). */
  readonly lagIntervalMs: number;
  /** TimescaleDB chunk, compression and retention settings (used with `enableTimescale`). */
  readonly timescale: TimescaleSettings;
  readonly maxMessageBytes: number;
  readonly maxMessageFields: number;
  readonly maxMetadataBytes: number;
  readonly maxMetadataDepth: number;
}

/** Optional TimescaleDB policies, each a PostgreSQL interval like `7 days`, or undefined for none. */
export interface TimescaleSettings {
  readonly chunkInterval?: string;
  readonly compressAfter?: string;
  readonly retainFor?: string;
}

/** Log levels accepted in `LOG_LEVEL` (any case; `WARN` is an alias of `WARNING`). */
export type LogLevel = "debug" | "info" | "warning" | "error";

/** Variables whose values are secret and must never be printed. */
const SECRET_VARS = new Set(["REDIS_PASSWORD"]);
const URL_VARS = new Set(["REDIS_URL", "DATABASE_URL"]);

const IDENT = "[A-Za-z_][A-Za-z0-9_]{0,62}";
const TABLE_RE = new RegExp(`^(?:(${IDENT})\\.)?(${IDENT})$`);

function text(def?: string) {
  return z.string().trim().optional().transform((v) => (v === undefined || v === "" ? def : v));
}

function int(def: number, min: number, max: number) {
  return z.string().trim().optional().transform((v, ctx) => {
    if (v === undefined || v === "") return def;
    if (!/^[+-]?\d+$/.test(v) || Number(v) < min || Number(v) > max) {
      ctx.addIssue({ code: "custom", message: `an integer from ${min} to ${max}` });
      return z.NEVER;
    }
    return Number(v);
  });
}

/** Seconds as a decimal (e.g. `0.5`), returned in milliseconds. */
function seconds(def: number, min: number, max: number) {
  return z.string().trim().optional().transform((v, ctx) => {
    if (v === undefined || v === "") return Math.round(def * 1000);
    const n = Number(v);
    if (!/^\+?(\d+\.?\d*|\.\d+)$/.test(v) || n < min || n > max) {
      ctx.addIssue({ code: "custom", message: `a number of seconds from ${min} to ${max}` });
      return z.NEVER;
    }
    return Math.round(n * 1000);
  });
}

const TRUE = new Set(["true", "1", "yes", "on"]);
const FALSE = new Set(["false", "0", "no", "off"]);
function bool(def: boolean) {
  return z.string().trim().optional().transform((v, ctx) => {
    if (v === undefined || v === "") return def;
    const s = v.toLowerCase();
    if (TRUE.has(s)) return true;
    if (FALSE.has(s)) return false;
    ctx.addIssue({ code: "custom", message: "true or false (also 1/0, yes/no, on/off)" });
    return z.NEVER;
  });
}

function oneOf<T extends string>(def: T, values: readonly T[], aliases: Record<string, T> = {}) {
  return z.string().trim().optional().transform((v, ctx): T => {
    if (v === undefined || v === "") return def;
    const s = v.toLowerCase();
    const hit = values.find((x) => x === s) ?? (Object.hasOwn(aliases, s) ? aliases[s] : undefined);
    if (hit) return hit;
    ctx.addIssue({ code: "custom", message: `one of ${values.map((x) => x.toUpperCase()).join(", ")}` });
    return z.NEVER;
  });
}

function redisUrl() {
  return z.string().trim().optional().transform((v, ctx): RedisSettings | undefined => {
    if (v === undefined || v === "") return undefined;
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      ctx.addIssue({ code: "custom", message: "a URL like redis://[:password@]host:port/db or rediss://…" });
      return z.NEVER;
    }
    if (u.protocol !== "redis:" && u.protocol !== "rediss:") {
      ctx.addIssue({ code: "custom", message: "a redis:// or rediss:// URL" });
      return z.NEVER;
    }
    const path = u.pathname.replace(/^\//, "");
    const db = path === "" ? 0 : Number(path);
    if (!/^\d*$/.test(path) || db > 15) {
      ctx.addIssue({ code: "custom", message: "a database number from 0 to 15 as the URL path (/0)" });
      return z.NEVER;
    }
    const port = u.port === "" ? 6379 : Number(u.port);
    return {
      host: u.hostname.replace(/^\[(.*)\]$/, "$1") || "localhost",
      port,
      db,
      username: u.username ? decodeURIComponent(u.username) : undefined,
      password: u.password ? decodeURIComponent(u.password) : undefined,
      tls: u.protocol === "rediss:",
    };
  });
}

const NODES_EXPECTED = "a comma-separated list of host:port seed nodes (e.g. 10.0.0.1:7000)";

function clusterNodes() {
  return z.string().trim().optional().transform((v, ctx): RedisNode[] | undefined => {
    if (v === undefined || v === "") return undefined;
    const nodes: RedisNode[] = [];
    for (const item of v.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
      const m = /^(?:\[([^\]]+)\]|([^\s:/@]+)):(\d{1,5})$/.exec(item);
      const port = m ? Number(m[3]) : 0;
      if (!m || port < 1 || port > 65535) {
        ctx.addIssue({ code: "custom", message: NODES_EXPECTED });
        return z.NEVER;
      }
      nodes.push(Object.freeze({ host: m[1] ?? m[2]!, port }));
    }
    if (nodes.length === 0) {
      ctx.addIssue({ code: "custom", message: NODES_EXPECTED });
      return z.NEVER;
    }
    return nodes;
  });
}

function databaseUrl(def: string) {
  return z.string().trim().optional().transform((v, ctx) => {
    // The previous service's SQLAlchemy form (postgresql+psycopg://…) names a driver; drop it.
    const s = (v === undefined || v === "" ? def : v).replace(/^(postgres(?:ql)?)\+[a-z0-9_]+:\/\//i, "$1://");
    let u: URL;
    try {
      u = new URL(s);
      if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") throw new Error();
    } catch {
      ctx.addIssue({ code: "custom", message: "a URL like postgres://user:password@host:5432/dbname" });
      return z.NEVER;
    }
    for (const problem of databaseSslProblems(u)) ctx.addIssue({ code: "custom", message: problem });
    return s;
  });
}

/** Problems with the TLS parameters of a PostgreSQL URL (sslmode, sslrootcert, sslcert, sslkey). */
function databaseSslProblems(u: URL): string[] {
  const p = databaseSslParams(u);
  const problems: string[] = [];
  if (p.rawMode !== undefined && !(SSL_MODES as readonly string[]).includes(p.rawMode)) {
    problems.push(`sslmode to be one of ${SSL_MODES.join(", ")} (got ${JSON.stringify(p.rawMode)})`);
  }
  const files: [string, string | undefined][] = [
    ["sslrootcert", p.rootCert === "system" ? undefined : p.rootCert],
    ["sslcert", p.cert],
    ["sslkey", p.key],
  ];
  for (const [name, path] of files) {
    const problem = path === undefined ? undefined : pemFileProblem(path);
    if (problem) problems.push(`${name} to be a readable PEM file, but for ${JSON.stringify(path)} ${problem}`);
  }
  if (Boolean(p.cert) !== Boolean(p.key)) problems.push("sslcert and sslkey to be given together");
  return problems;
}

/**
 * Where the service and the binary may read TLS files: deno.json grants read access to these
 * (`certs` relative to the working directory, beside `.env`) and to nothing else but `.env`
 * and the migrations.
 */
export const TLS_FILE_DIRS = "./certs (beside .env) or /etc/db-writer";

/** Why `path` cannot serve as a PEM file (e.g. "cannot read it: …"), or undefined when it can. */
function pemFileProblem(path: string): string | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) {
      return `cannot read it: db-writer may read TLS files only under ${TLS_FILE_DIRS}; move the file there`;
    }
    return `cannot read it: ${(err as Error).message}`;
  }
  return text.includes("-----BEGIN ") ? undefined : "it holds no PEM block (-----BEGIN …)";
}

function pemFile() {
  return z.string().trim().optional().transform((v, ctx) => {
    if (v === undefined || v === "") return undefined;
    const problem = pemFileProblem(v);
    if (problem) {
      ctx.addIssue({ code: "custom", message: `a readable PEM file, but ${problem}` });
      return z.NEVER;
    }
    return v;
  });
}

function tableName() {
  return z.string().trim().optional().transform((v, ctx): TableName => {
    const s = v === undefined || v === "" ? "sensor_readings" : v;
    const m = TABLE_RE.exec(s);
    if (!m) {
      ctx.addIssue({ code: "custom", message: "a plain SQL identifier (letters, digits, _) or schema.table" });
      return z.NEVER;
    }
    return m[1] ? { schema: m[1], name: m[2]! } : { name: m[2]! };
  });
}

function patterns() {
  return z.string().optional().transform((v, ctx) => {
    const list = (v === undefined || v.trim() === "" ? "mqtt_stream:*" : v).split(",").map((s) => s.trim())
      .filter((s) => s !== "");
    if (list.length === 0) {
      ctx.addIssue({ code: "custom", message: "a glob or a comma-separated list of globs and stream keys" });
      return z.NEVER;
    }
    return Object.freeze(list);
  });
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

function interval() {
  return z.string().trim().optional().transform((v, ctx) => {
    if (v === undefined || v === "") return undefined;
    const parsed = parseInterval(v);
    if (parsed === undefined) {
      ctx.addIssue({ code: "custom", message: "an interval like 7 days, 12 hours, 1 month (or 7d, 12h)" });
      return z.NEVER;
    }
    return parsed;
  });
}

function name(def: string) {
  return z.string().trim().optional().transform((v, ctx) => {
    const s = v === undefined || v === "" ? def : v;
    if (/\s/.test(s) || s.length > 200) {
      ctx.addIssue({ code: "custom", message: "a name without spaces, at most 200 characters" });
      return z.NEVER;
    }
    return s;
  });
}

function schemaFor(defaults: { hostname: string; pid: number }) {
  return z.object({
    REDIS_URL: redisUrl(),
    REDIS_HOST: text("localhost"),
    REDIS_PORT: int(6379, 1, 65535),
    REDIS_DB: int(0, 0, 15),
    REDIS_PASSWORD: z.string().optional().transform((v) => (v === "" ? undefined : v)),
    REDIS_CLUSTER_NODES: clusterNodes(),
    DATABASE_URL: databaseUrl("postgres://postgres@localhost:5432/postgres"),
    CONSUMER_GROUP_NAME: name("db_writer"),
    CONSUMER_NAME: name(`${defaults.hostname}-${defaults.pid}`),
    BATCH_SIZE: int(500, 1, 100_000),
    BATCH_TIMEOUT_SEC: seconds(5, 0.001, 3600),
    PROCESSING_INTERVAL_SEC: seconds(0, 0, 3600),
    STREAM_PATTERN: patterns(),
    DEAD_LETTER_STREAM: name("mqtt_stream:failed"),
    DEAD_LETTER_MAXLEN: int(0, 0, 1_000_000_000),
    TABLE_NAME: tableName(),
    ENABLE_TIMESCALE: bool(false),
    LOG_LEVEL: oneOf<LogLevel>("info", ["debug", "info", "warning", "error"], { warn: "warning" }),
    LOG_FORMAT: oneOf<"json" | "console">("json", ["json", "console"]),
    HTTP_PORT: int(9464, 0, 65535),
    HTTP_HOST: text("0.0.0.0"),
    MIGRATE_ON_START: bool(true),
    CLAIM_MIN_IDLE_MS: int(60_000, 100, 86_400_000),
    MAX_DELIVERIES: int(5, 1, 1000),
    CONSUMER_REMOVE_IDLE_MS: int(3_600_000, 1000, 2_592_000_000),
    DISCOVERY_INTERVAL_SEC: seconds(5, 0.1, 3600),
    SHUTDOWN_TIMEOUT_SEC: seconds(30, 1, 3600),
    STATS_INTERVAL_SEC: seconds(5, 0.1, 3600),
    RETRY_INITIAL_MS: int(200, 1, 60_000),
    RETRY_MAX_MS: int(30_000, 10, 600_000),
    DB_POOL_SIZE: int(4, 2, 100),
    WRITE_CONCURRENCY: int(2, 1, 16),
    LAG_INTERVAL_SEC: seconds(10, 0.1, 3600),
    TIMESCALE_CHUNK_INTERVAL: interval(),
    TIMESCALE_COMPRESS_AFTER: interval(),
    TIMESCALE_RETAIN_FOR: interval(),
    MAX_MESSAGE_BYTES: int(65_536, 256, 67_108_864),
    MAX_MESSAGE_FIELDS: int(1000, 4, 100_000),
    MAX_METADATA_BYTES: int(16_384, 2, 16_777_216),
    MAX_METADATA_DEPTH: int(32, 1, 1000),
    REDIS_USERNAME: text(),
    REDIS_TLS: bool(false),
    REDIS_TLS_CA_FILE: pemFile(),
    REDIS_TLS_CERT_FILE: pemFile(),
    REDIS_TLS_KEY_FILE: pemFile(),
  });
}

/**
 * Every environment variable the configuration reads, in schema order. The
 * permission flags in deno.json (`--allow-env=…`) must list exactly these plus
 * the variables the libraries read; tests/permissions_test.ts holds them together.
 */
export const CONFIG_VARIABLES: readonly string[] = Object.freeze(
  Object.keys(schemaFor({ hostname: "", pid: 0 }).shape),
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
 * Hides passwords in a URL (or something meant to be one), keeping the rest
 * readable: everything between the user name and the last `@` before the
 * host, and any `password=` query parameter.
 */
export function maskUrl(value: string): string {
  const schemeEnd = value.indexOf("://");
  const start = schemeEnd >= 0 ? schemeEnd + 3 : 0;
  let out = value;
  // The last `@` ends the user information: a password may hold `/`, `?`, `#`
  // or `@` unencoded. (An `@` in a query string may be over-masked; a password
  // is never under-masked.)
  const at = value.lastIndexOf("@");
  if (at > start) {
    const userinfo = value.slice(start, at);
    const colon = userinfo.indexOf(":");
    if (colon >= 0) out = `${value.slice(0, start)}${userinfo.slice(0, colon)}:***${value.slice(at)}`;
  }
  return out.replace(/([?&]password=)[^&]*/gi, "$1***");
}

function shown(variable: string, value: string | undefined): string {
  if (value === undefined) return "nothing";
  if (SECRET_VARS.has(variable)) return '"***"';
  if (URL_VARS.has(variable)) return JSON.stringify(maskUrl(value));
  return JSON.stringify(value);
}

/** Problems that involve two variables, judged on whatever parses of the raw values. */
function crossProblems(env: Readonly<Record<string, string | undefined>>): string[] {
  const problems: string[] = [];
  const intOr = (v: string | undefined, def: number) => {
    const s = v?.trim() ?? "";
    return s === "" ? def : /^[+-]?\d+$/.test(s) ? Number(s) : undefined;
  };
  const initial = intOr(env.RETRY_INITIAL_MS, 200), max = intOr(env.RETRY_MAX_MS, 30_000);
  const inRange = initial !== undefined && max !== undefined && initial >= 1 && initial <= 60_000 && max >= 10 &&
    max <= 600_000;
  if (inRange && max < initial) {
    problems.push(`RETRY_MAX_MS: got ${max}, expected at least RETRY_INITIAL_MS (${initial})`);
  }
  const pool = intOr(env.DB_POOL_SIZE, 4), writers = intOr(env.WRITE_CONCURRENCY, 2);
  if (pool !== undefined && writers !== undefined && pool >= 2 && writers >= 1 && writers <= 16 && writers >= pool) {
    problems.push(
      `WRITE_CONCURRENCY: got ${writers}, expected less than DB_POOL_SIZE (${pool}), which also serves health checks`,
    );
  }
  problems.push(...redisTlsProblems(env));
  const dead = env.DEAD_LETTER_STREAM?.trim() || "mqtt_stream:failed";
  const patterns = (env.STREAM_PATTERN?.trim() || "mqtt_stream:*").split(",").map((s) => s.trim());
  if (patterns.includes(dead)) {
    problems.push(
      `STREAM_PATTERN: got ${
        shown("STREAM_PATTERN", env.STREAM_PATTERN)
      }, expected not to name the dead-letter stream ${JSON.stringify(dead)} (it is never consumed)`,
    );
  }
  const timescaleOn = TRUE.has((env.ENABLE_TIMESCALE ?? "").trim().toLowerCase());
  const timescaleVars = ["TIMESCALE_CHUNK_INTERVAL", "TIMESCALE_COMPRESS_AFTER", "TIMESCALE_RETAIN_FOR"];
  for (const variable of timescaleVars) {
    if (!timescaleOn && (env[variable]?.trim() ?? "") !== "") {
      problems.push(
        `${variable}: got ${shown(variable, env[variable])}, expected it unset unless ENABLE_TIMESCALE=true ` +
          `(it applies to a TimescaleDB hypertable only)`,
      );
    }
  }
  return problems;
}

/**
 * REDIS_TLS_* files given while TLS is off, a client certificate without its
 * key, or REDIS_TLS / REDIS_USERNAME beside a REDIS_URL that says otherwise.
 */
function redisTlsProblems(env: Readonly<Record<string, string | undefined>>): string[] {
  const problems: string[] = [];
  const set = (name: string) => (env[name]?.trim() ?? "") !== "";
  const url = env.REDIS_URL?.trim() ?? "";
  const flag = env.REDIS_TLS?.trim().toLowerCase() ?? "";
  // undefined: REDIS_TLS itself is invalid and reported on its own.
  const tls = url !== "" ? /^rediss:/i.test(url) : flag === "" || FALSE.has(flag) ? false : TRUE.has(flag) || undefined;
  for (const name of ["REDIS_TLS_CA_FILE", "REDIS_TLS_CERT_FILE", "REDIS_TLS_KEY_FILE"]) {
    if (set(name) && tls === false) {
      problems.push(
        `${name}: got ${shown(name, env[name])}, expected TLS to be on (a rediss:// REDIS_URL, or REDIS_TLS=true)`,
      );
    }
  }
  if (url !== "" && flag !== "" && (TRUE.has(flag) || FALSE.has(flag)) && TRUE.has(flag) !== tls) {
    problems.push(
      `REDIS_TLS: got ${shown("REDIS_TLS", env.REDIS_TLS)}, expected it unset or in step with REDIS_URL, ` +
        `which decides when set (rediss:// for TLS, redis:// without)`,
    );
  }
  if (url !== "" && set("REDIS_USERNAME")) {
    problems.push(
      `REDIS_USERNAME: got ${shown("REDIS_USERNAME", env.REDIS_USERNAME)}, expected it unset when REDIS_URL is set ` +
        `(put the user in the URL: redis://user:password@host:port/db)`,
    );
  }
  if (tls !== false && set("REDIS_TLS_CERT_FILE") !== set("REDIS_TLS_KEY_FILE")) {
    const missing = set("REDIS_TLS_CERT_FILE") ? "REDIS_TLS_KEY_FILE" : "REDIS_TLS_CERT_FILE";
    problems.push(`${missing}: got nothing, expected a PEM file: a client certificate and its key go together`);
  }
  return problems;
}

/**
 * Cluster mode: the seed nodes replace host and port; credentials and TLS
 * (from REDIS_URL or REDIS_PASSWORD) apply to every node.
 */
function withCluster(server: RedisSettings, nodes: readonly RedisNode[] | undefined): RedisSettings {
  if (!nodes) return server;
  return { ...server, host: nodes[0]!.host, port: nodes[0]!.port, cluster: Object.freeze([...nodes]) };
}

/**
 * Validates an environment into a frozen {@link Config}.
 * @throws {ConfigError} listing every problem, one line per variable.
 */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>>,
  defaults: { hostname: string; pid: number } = { hostname: "db-writer", pid: 0 },
): Config {
  const parsed = schemaFor(defaults).safeParse(env);
  const problems = parsed.success ? [] : parsed.error.issues.map((issue) => {
    const variable = String(issue.path[0] ?? "?");
    return `${variable}: got ${shown(variable, env[variable])}, expected ${issue.message}`;
  });
  problems.push(...crossProblems(env));
  if (parsed.success && parsed.data.REDIS_CLUSTER_NODES) {
    const db = parsed.data.REDIS_URL?.db ?? parsed.data.REDIS_DB;
    const variable = parsed.data.REDIS_URL ? "REDIS_URL" : "REDIS_DB";
    if (db !== 0) {
      problems.push(
        `${variable}: got database ${db}, expected 0 with REDIS_CLUSTER_NODES (a cluster has only database 0)`,
      );
    }
  }
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  const e = parsed.data;

  const redis: RedisSettings = {
    ...(e.REDIS_URL ?? {
      host: e.REDIS_HOST ?? "localhost",
      port: e.REDIS_PORT,
      db: e.REDIS_DB,
      ...(e.REDIS_USERNAME ? { username: e.REDIS_USERNAME } : {}),
      password: e.REDIS_PASSWORD,
      tls: e.REDIS_TLS,
    }),
    ...(e.REDIS_TLS_CA_FILE ? { tlsCaFile: e.REDIS_TLS_CA_FILE } : {}),
    ...(e.REDIS_TLS_CERT_FILE ? { tlsCertFile: e.REDIS_TLS_CERT_FILE } : {}),
    ...(e.REDIS_TLS_KEY_FILE ? { tlsKeyFile: e.REDIS_TLS_KEY_FILE } : {}),
  };
  return Object.freeze({
    redis: Object.freeze(withCluster(redis, e.REDIS_CLUSTER_NODES)),
    databaseUrl: e.DATABASE_URL,
    consumerGroup: e.CONSUMER_GROUP_NAME,
    consumerName: e.CONSUMER_NAME,
    batchSize: e.BATCH_SIZE,
    batchTimeoutMs: e.BATCH_TIMEOUT_SEC,
    processingIntervalMs: e.PROCESSING_INTERVAL_SEC,
    streamPatterns: e.STREAM_PATTERN,
    deadLetterStream: e.DEAD_LETTER_STREAM,
    deadLetterMaxLen: e.DEAD_LETTER_MAXLEN,
    table: Object.freeze(e.TABLE_NAME),
    enableTimescale: e.ENABLE_TIMESCALE,
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    httpPort: e.HTTP_PORT,
    httpHost: e.HTTP_HOST ?? "0.0.0.0",
    migrateOnStart: e.MIGRATE_ON_START,
    claimMinIdleMs: e.CLAIM_MIN_IDLE_MS,
    maxDeliveries: e.MAX_DELIVERIES,
    consumerRemoveIdleMs: e.CONSUMER_REMOVE_IDLE_MS,
    discoveryIntervalMs: e.DISCOVERY_INTERVAL_SEC,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_SEC,
    statsIntervalMs: e.STATS_INTERVAL_SEC,
    retryInitialMs: e.RETRY_INITIAL_MS,
    retryMaxMs: e.RETRY_MAX_MS,
    dbPoolSize: e.DB_POOL_SIZE,
    writeConcurrency: e.WRITE_CONCURRENCY,
    lagIntervalMs: e.LAG_INTERVAL_SEC,
    timescale: Object.freeze({
      chunkInterval: e.TIMESCALE_CHUNK_INTERVAL,
      compressAfter: e.TIMESCALE_COMPRESS_AFTER,
      retainFor: e.TIMESCALE_RETAIN_FOR,
    }),
    maxMessageBytes: e.MAX_MESSAGE_BYTES,
    maxMessageFields: e.MAX_MESSAGE_FIELDS,
    maxMetadataBytes: e.MAX_METADATA_BYTES,
    maxMetadataDepth: e.MAX_METADATA_DEPTH,
  });
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

/** A loggable view of the config: URLs masked, passwords removed. */
export function redactedConfig(config: Config): Record<string, unknown> {
  const { password: _p, ...redis } = config.redis;
  return {
    ...config,
    redis: { ...redis, password: config.redis.password ? "***" : undefined },
    databaseUrl: maskUrl(config.databaseUrl),
  };
}

/** `schema.table` as written in TABLE_NAME (for messages, not SQL). */
export function tableLabel(table: TableName): string {
  return table.schema ? `${table.schema}.${table.name}` : table.name;
}
