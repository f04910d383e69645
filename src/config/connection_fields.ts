/**
 * Field validators for connection settings: Redis and PostgreSQL URLs, cluster
 * nodes, TLS files, the table name and the stream patterns.
 */
import { databaseSslParams, SSL_MODES } from "../tls.ts";
import type { RedisNode, RedisSettings } from "../source/redis.ts";
import type { TableName } from "../sink/table.ts";
import { type Field, field, type Invalid, invalid } from "./fields.ts";

const BAD_ESCAPE =
  "a URL whose %-escapes are valid: each % followed by two hex digits, together UTF-8 (write a literal % as %25)";

/** False when some `%` of `v` does not start a valid escape, which a client would fail on (a URIError) later. */
function validEscapes(v: string): boolean {
  try {
    decodeURIComponent(v);
    return true;
  } catch {
    return false;
  }
}

/** A `redis://` or `rediss://` URL, read into connection settings. */
export function redisUrl(): Field<RedisSettings | undefined> {
  return field("a redis:// or rediss:// URL", "", undefined, (v) => {
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      return invalid("a URL like redis://[:password@]host:port/db or rediss://…");
    }
    if (!validEscapes(v)) return invalid(BAD_ESCAPE);
    if (u.protocol !== "redis:" && u.protocol !== "rediss:") return invalid("a redis:// or rediss:// URL");
    const path = u.pathname.replace(/^\//, "");
    const db = path === "" ? 0 : Number(path);
    if (!/^\d*$/.test(path) || db > 15) return invalid("a database number from 0 to 15 as the URL path (/0)");
    return {
      host: u.hostname.replace(/^\[(.*)\]$/, "$1") || "localhost",
      port: u.port === "" ? 6379 : Number(u.port),
      db,
      username: u.username ? decodeURIComponent(u.username) : undefined,
      password: u.password ? decodeURIComponent(u.password) : undefined,
      tls: u.protocol === "rediss:",
    };
  });
}

/** `host:port,host:port` seed nodes of a Redis Cluster. */
export function clusterNodes(): Field<readonly RedisNode[] | undefined> {
  const expected = "a comma-separated list of host:port seed nodes (e.g. 10.0.0.1:7000)";
  return field(expected, "", undefined, (v) => {
    const nodes: RedisNode[] = [];
    for (const item of v.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
      const m = /^(?:\[([^\]]+)\]|([^\s:/@]+)):(\d{1,5})$/.exec(item);
      const port = m ? Number(m[3]) : 0;
      if (!m || port < 1 || port > 65535) return invalid(expected);
      nodes.push(Object.freeze({ host: m[1] ?? m[2]!, port }));
    }
    return nodes.length === 0 ? invalid(expected) : nodes;
  });
}

/**
 * A `postgres://` or `postgresql://` URL with valid TLS parameters. The
 * previous service's SQLAlchemy form (`postgresql+psycopg://…`) names a
 * driver; that part is dropped.
 */
export function databaseUrl(def: string): Field<string> {
  const parse = (v: string): string | Invalid => {
    const s = v.replace(/^(postgres(?:ql)?)\+[a-z0-9_]+:\/\//i, "$1://");
    let u: URL;
    try {
      u = new URL(s);
      if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") throw new Error();
    } catch {
      return invalid("a URL like postgres://user:password@host:5432/dbname");
    }
    if (!validEscapes(s)) return invalid(BAD_ESCAPE);
    const problems = databaseSslProblems(u);
    return problems.length > 0 ? invalid(...problems) : s;
  };
  return field("a URL like postgres://user:password@host:5432/dbname", def, def, parse);
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
  for (const [label, path] of files) {
    const problem = path === undefined ? undefined : pemFileProblem(path);
    if (problem) problems.push(`${label} to be a readable PEM file, but for ${JSON.stringify(path)} ${problem}`);
  }
  if (Boolean(p.cert) !== Boolean(p.key)) problems.push("sslcert and sslkey to be given together");
  return problems;
}

/**
 * Where the service and the binary may read TLS files: the flags file grants
 * read access to these (`certs` relative to the working directory, beside
 * `.env`) and to nothing else but `.env` and the migrations.
 */
export const TLS_FILE_DIRS = "./certs (beside .env) or /etc/db-writer";

/** Why `path` cannot serve as a PEM file (e.g. "cannot read it: …"), or undefined when it can. */
function pemFileProblem(path: string): string | undefined {
  let content: string;
  try {
    content = Deno.readTextFileSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) {
      return `cannot read it: db-writer may read TLS files only under ${TLS_FILE_DIRS}; move the file there`;
    }
    return `cannot read it: ${(err as Error).message}`;
  }
  return content.includes("-----BEGIN ") ? undefined : "it holds no PEM block (-----BEGIN …)";
}

/** A readable PEM file (read once here, to fail early; the client reads it again). */
export function pemFile(shownDefault = ""): Field<string | undefined> {
  return field("a readable PEM file", shownDefault, undefined, (v) => {
    const problem = pemFileProblem(v);
    return problem ? invalid(`a readable PEM file, but ${problem}`) : v;
  });
}

const IDENT = "[A-Za-z_][A-Za-z0-9_]{0,62}";
const TABLE_RE = new RegExp(`^(?:(${IDENT})\\.)?(${IDENT})$`);

/** A plain SQL identifier, optionally `schema.table`. */
export function tableName(def: string): Field<TableName> {
  const expected = "a plain SQL identifier (letters, digits, _) or schema.table";
  const parse = (v: string): TableName | Invalid => {
    const m = TABLE_RE.exec(v);
    if (!m) return invalid(expected);
    return Object.freeze(m[1] ? { schema: m[1], name: m[2]! } : { name: m[2]! });
  };
  return field(expected, def, parse(def) as TableName, parse);
}

/** A glob, or a comma-separated list of globs and exact stream keys. */
export function patterns(def: string): Field<readonly string[]> {
  const expected = "a glob or a comma-separated list of globs and stream keys";
  const parse = (v: string): readonly string[] | Invalid => {
    const list = v.split(",").map((s) => s.trim()).filter((s) => s !== "");
    return list.length === 0 ? invalid(expected) : Object.freeze(list);
  };
  return field(expected, def, parse(def) as readonly string[], parse);
}
