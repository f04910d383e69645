/**
 * Error classes and the one place that decides what a failure means:
 * retry it (transient), isolate the offending rows (data), or keep the
 * entries pending so they are redelivered and eventually dead-lettered.
 */

/** A configuration problem; `problems` holds one human-readable line each. */
export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
}

/** A command-line usage problem (unknown command, bad flag). */
export class UsageError extends Error {
  override name = "UsageError";
}

/** A migration problem: edited applied file, missing down file, bad SQL. */
export class MigrationError extends Error {
  override name = "MigrationError";
}

/**
 * The table cannot be written as promised (its idempotency index is missing):
 * an operator must fix it; the service stops (exit 1) instead of retrying.
 */
export class SchemaError extends Error {
  override name = "SchemaError";
}

/** Redis cannot be reached or has no usable node yet (a cluster still forming, say): always transient. */
export class RedisUnavailableError extends Error {
  override name = "RedisUnavailableError";
}

/** How the pipeline must react to a failure. */
export type FailureKind =
  /** The service or the network is unavailable: retry forever, ack nothing. */
  | "transient"
  /** A row is unacceptable to the database: isolate and dead-letter it. */
  | "data"
  /** Anything else: keep pending; redelivery and MAX_DELIVERIES decide. */
  | "unknown";

// SQLSTATE classes and codes, see the PostgreSQL manual, appendix A.
const TRANSIENT_SQLSTATE_CLASSES = new Set([
  "08", // connection exception
  "53", // insufficient resources (disk full, out of memory, too many connections)
  "57", // operator intervention (admin shutdown, crash shutdown, cannot connect now)
  "58", // system error (I/O)
  "40", // transaction rollback (serialization failure, deadlock)
  "3D", // invalid catalog name: the database is not there (yet)
  "28", // invalid authorization: a credentials problem an operator fixes
  "42", // schema problem (missing table/column, permission): not the data's fault
  "55", // object not in prerequisite state (lock not available, …)
  "XX", // internal error
  "F0", // configuration file error
  "HV", // foreign data wrapper error
]);
const DATA_SQLSTATE_CLASSES = new Set([
  "22", // data exception (out of range, invalid text, bad JSON, …)
  "23", // integrity constraint violation (check, not null, foreign key, …)
]);

const TRANSIENT_NODE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ENOTCONN",
  // postgres.js connection-level codes
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
]);

/** Redis error codes (the first word of an error reply) that mean "not now": wait and retry. */
const TRANSIENT_REDIS_CODES = new Set([
  "LOADING",
  "TRYAGAIN",
  "CLUSTERDOWN",
  "READONLY",
  "MASTERDOWN",
  "BUSY",
  "NOREPLICAS",
  "OOM",
  "MOVED",
  "ASK",
  // Credentials or ACL permissions: an operator fixes them (as PostgreSQL's class 28), the data is not at fault.
  "WRONGPASS",
  "NOAUTH",
  "NOPERM",
]);

const TRANSIENT_MESSAGES = [
  "Connection is closed",
  "Stream isn't writeable",
  "connect ECONNREFUSED",
  "MaxRetriesPerRequest",
  "Reached the max retries per request limit",
  "Command timed out",
  "write after end",
  "socket hang up",
  "Connection lost",
  // ioredis Cluster, while no node answers
  "Failed to refresh slots cache",
  "None of startup nodes is available",
  "Cluster isn't ready",
  "Too many Cluster redirections",
];

function props(err: unknown): { code?: string; name?: string; message: string; cause?: unknown } {
  if (typeof err !== "object" || err === null) return { message: String(err) };
  const e = err as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown };
  return {
    code: typeof e.code === "string" ? e.code : undefined,
    name: typeof e.name === "string" ? e.name : undefined,
    message: typeof e.message === "string" ? e.message : String(err),
    cause: e.cause,
  };
}

/**
 * True when `err` says a connection failed (a socket error such as ECONNRESET
 * or EPIPE, or one of the PostgreSQL driver's connection codes), not what
 * was sent over it.
 */
export function isConnectionError(err: unknown): boolean {
  const code = typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === "string" && TRANSIENT_NODE_CODES.has(code);
}

/** A connection's own codes for "this connection is gone", which say nothing of why. */
const LOSS_CODES = new Set(["CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED"]);

/**
 * True when `err` only says a command lost its connection (the Redis
 * client's "max retries per request" or "Connection is closed", the
 * PostgreSQL driver's CONNECTION_CLOSED), not why: the reconnect's error
 * tells that.
 */
export function isBareConnectionLoss(err: unknown): boolean {
  const { code, name, message } = props(err);
  if (code !== undefined) return LOSS_CODES.has(code);
  return name === "MaxRetriesPerRequestError" || message.startsWith("Connection is closed");
}

/**
 * The code of a Redis error reply (`NOGROUP`, `BUSYGROUP`, `WRONGTYPE`, …: the
 * first word of the reply, in capitals), or undefined for anything else.
 */
export function redisErrorCode(err: unknown): string | undefined {
  const { name, message } = props(err);
  if (name !== "ReplyError") return undefined;
  const m = /^([A-Z][A-Z_]*)(?:\s|$)/.exec(message);
  return m?.[1];
}

/** True for XGROUP CREATE's reply when the stream does not exist (and MKSTREAM was not given). */
export function isMissingKeyError(err: unknown): boolean {
  return redisErrorCode(err) === "ERR" && props(err).message.includes("requires the key to exist");
}

/** The SQLSTATE of a PostgreSQL error, or undefined for anything else. */
export function sqlState(err: unknown): string | undefined {
  const { code, name } = props(err);
  if (code && /^[0-9A-Z]{5}$/.test(code) && (name === "PostgresError" || !TRANSIENT_NODE_CODES.has(code))) {
    return code;
  }
  return undefined;
}

/** Classifies a failure of Redis, PostgreSQL or the network. */
export function classify(err: unknown, depth = 0): FailureKind {
  const p = props(err);
  const state = sqlState(err);
  if (p.name === "SchemaError") return "unknown";
  if (state) {
    // No unique index matches ON CONFLICT: the idempotency key is gone, which no retry repairs.
    if (state === "42P10") return "unknown";
    const cls = state.slice(0, 2);
    if (TRANSIENT_SQLSTATE_CLASSES.has(cls)) return "transient";
    if (DATA_SQLSTATE_CLASSES.has(cls)) return "data";
    return "unknown";
  }
  if (p.code && TRANSIENT_NODE_CODES.has(p.code)) return "transient";
  // A refused certificate or handshake is a setting an operator fixes, like
  // SQLSTATE class 28: wait for it, never blame (dead-letter) the data.
  if (isTlsError(err)) return "transient";
  if (
    p.name === "MaxRetriesPerRequestError" || p.name === "AbortError" || p.name === "TimeoutError" ||
    p.name === "RedisUnavailableError"
  ) {
    return "transient";
  }
  const redisCode = redisErrorCode(err);
  if (redisCode !== undefined && TRANSIENT_REDIS_CODES.has(redisCode)) return "transient";
  if (TRANSIENT_MESSAGES.some((x) => p.message.includes(x))) return "transient";
  if (p.cause !== undefined && depth < 5) {
    const inner = classify(p.cause, depth + 1);
    if (inner !== "unknown") return inner;
  }
  return "unknown";
}

/**
 * SQLSTATE classes that waiting does not cure before the service has started:
 * the database does not exist (3D), the credentials are refused (28), the
 * table or a migration does not fit (42). Once running, the same codes are
 * waited out like an outage (see {@link classify}).
 */
const INCURABLE_AT_START_SQLSTATE_CLASSES = new Set(["3D", "28", "42"]);
/** Redis replies that mean the credentials (or the user's rights) are refused. */
const REDIS_AUTH_CODES = new Set(["WRONGPASS", "NOAUTH", "NOPERM"]);

/**
 * True for a start-up failure that retrying cannot fix (a database that does
 * not exist, refused credentials, a table of the wrong shape, a migration
 * that cannot apply); false for outages (refused or timed-out connections, a
 * server starting up, 57P03) and anything else.
 */
export function incurableAtStart(err: unknown, depth = 0): boolean {
  const state = sqlState(err);
  if (state) return INCURABLE_AT_START_SQLSTATE_CLASSES.has(state.slice(0, 2));
  const redisCode = redisErrorCode(err);
  if (redisCode !== undefined) return REDIS_AUTH_CODES.has(redisCode);
  const { cause } = props(err);
  return cause !== undefined && depth < 5 && incurableAtStart(cause, depth + 1);
}

/** True when the failure is worth retrying as is (outage, timeout, overload). */
export function isTransient(err: unknown): boolean {
  return classify(err) === "transient";
}

/** A one-line description of an error, for logs and dead-letter reasons. */
export function describe(err: unknown): string {
  const p = props(err);
  const state = sqlState(err);
  const detail = typeof err === "object" && err !== null && "detail" in err &&
      typeof (err as { detail: unknown }).detail === "string"
    ? ` (${(err as { detail: string }).detail})`
    : "";
  const constraint = typeof err === "object" && err !== null && "constraint_name" in err &&
      typeof (err as { constraint_name: unknown }).constraint_name === "string"
    ? ` [constraint ${(err as { constraint_name: string }).constraint_name}]`
    : "";
  const prefix = state ? `${state}: ` : p.code ? `${p.code}: ` : "";
  const hint = tlsHint(err);
  return `${prefix}${p.message}${detail}${constraint}${hint ? `; ${hint}` : ""}`;
}

const CERT_CODES = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_SIGNATURE_FAILURE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
]);
const EXPIRY_CODES = new Set(["CERT_HAS_EXPIRED", "CERT_NOT_YET_VALID"]);

/** True for a failed TLS handshake or certificate check (a setting to fix, never the data's fault). */
export function isTlsError(err: unknown): boolean {
  const code = typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
  const message = typeof err === "object" && err !== null ? String((err as { message?: unknown }).message) : "";
  return (typeof code === "string" &&
    (CERT_CODES.has(code) || EXPIRY_CODES.has(code) || code === "ERR_TLS_CERT_ALTNAME_INVALID" ||
      code.startsWith("ERR_SSL_"))) ||
    /certificate|\bTLS\b|\bSSL\b|handshake/i.test(message);
}

/** What to change when a TLS error occurs, or undefined for other errors. */
export function tlsHint(err: unknown): string | undefined {
  const code = typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
  const message = typeof err === "object" && err !== null ? String((err as { message?: unknown }).message) : "";
  if (message.includes("before secure TLS connection was established")) {
    return "the server closed the connection during the TLS handshake: does it accept TLS on that port?";
  }
  if (typeof code !== "string") return undefined;
  if (CERT_CODES.has(code)) {
    return "the server's certificate is not signed by a trusted CA: set REDIS_TLS_CA_FILE (Redis) or sslrootcert " +
      "in DATABASE_URL (PostgreSQL) to the CA that signed it";
  }
  if (EXPIRY_CODES.has(code)) return "the server's certificate is outside its validity period";
  if (code.includes("CERTIFICATE_REQUIRED")) {
    return "the server requires a client certificate: set REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE (Redis) or " +
      "sslcert and sslkey in DATABASE_URL (PostgreSQL)";
  }
  if (code.startsWith("ERR_SSL_")) return "the server refused the TLS handshake; its log says why";
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    return "connect with a host name the certificate names, or use sslmode=verify-ca to skip the host name check " +
      "(PostgreSQL)";
  }
  return undefined;
}
