/**
 * TLS settings for both sides, as plain `node:tls` connect options: the CA,
 * client certificate and key files of Redis (`REDIS_TLS_*`) and the libpq
 * `sslmode` / `sslrootcert` / `sslcert` / `sslkey` parameters of
 * `DATABASE_URL`. Files are read when a client is created, never logged.
 */

/** `sslmode` values of libpq, all accepted in `DATABASE_URL`. */
export const SSL_MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] as const;
/** One of {@link SSL_MODES}. */
export type SslMode = typeof SSL_MODES[number];

/** The URL query parameters that configure TLS to PostgreSQL; each is consumed here, never sent to the server. */
export const SSL_PARAMS = ["sslmode", "sslrootcert", "sslcert", "sslkey"] as const;

/** The subset of `node:tls` connect options this service sets. */
export interface TlsOptions {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
  host?: string;
  rejectUnauthorized?: boolean;
  checkServerIdentity?: (host: string, cert: unknown) => Error | undefined;
}

/** What `ssl` postgres.js gets: off, "prefer" (TLS when offered, unverified), or connect options. */
export type PostgresSsl = false | "prefer" | TlsOptions;

function read(path: string): string {
  return Deno.readTextFileSync(path);
}

function isIp(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(":");
}

/** What the TLS options of a Redis connection depend on. */
export interface RedisTlsSettings {
  readonly host: string;
  readonly tls: boolean;
  /** PEM file of the CA(s) that sign the server's certificate (`REDIS_TLS_CA_FILE`); system CAs when unset. */
  readonly tlsCaFile?: string;
  /** PEM client certificate (`REDIS_TLS_CERT_FILE`), for servers that require one. */
  readonly tlsCertFile?: string;
  /** PEM private key of the client certificate (`REDIS_TLS_KEY_FILE`). */
  readonly tlsKeyFile?: string;
}

/** TLS connect options for Redis, or undefined when TLS is off. */
export function redisTlsOptions(settings: RedisTlsSettings): TlsOptions | undefined {
  if (!settings.tls) return undefined;
  const options: TlsOptions = {};
  if (settings.tlsCaFile) options.ca = read(settings.tlsCaFile);
  if (settings.tlsCertFile) options.cert = read(settings.tlsCertFile);
  if (settings.tlsKeyFile) options.key = read(settings.tlsKeyFile);
  // SNI carries host names only; the certificate is still checked against an IP.
  if (!isIp(settings.host)) options.servername = settings.host;
  return options;
}

/** The TLS parameters found in a `DATABASE_URL` (the mode is `disable` when absent). */
export interface DatabaseSslParams {
  mode: SslMode;
  rootCert?: string;
  cert?: string;
  key?: string;
}

/** Reads the TLS parameters of a PostgreSQL URL; an unknown `sslmode` is returned as is for the caller to reject. */
export function databaseSslParams(url: URL): DatabaseSslParams & { rawMode?: string } {
  const q = url.searchParams;
  const raw = q.get("sslmode") ?? undefined;
  const mode = (SSL_MODES as readonly string[]).includes(raw ?? "disable") ? (raw ?? "disable") as SslMode : "disable";
  const out: DatabaseSslParams & { rawMode?: string } = { mode, rawMode: raw };
  const rootCert = q.get("sslrootcert"), cert = q.get("sslcert"), key = q.get("sslkey");
  if (rootCert) out.rootCert = rootCert;
  if (cert) out.cert = cert;
  if (key) out.key = key;
  return out;
}

/**
 * Splits a PostgreSQL URL into the URL postgres.js gets (without the TLS
 * parameters, which it would otherwise send to the server as settings) and
 * its `ssl` option, following libpq: `require` with a root certificate
 * verifies the chain like `verify-ca`; `verify-ca` checks the chain but not
 * the host name; `verify-full` checks both; `sslrootcert=system` (or none)
 * trusts the system's CAs. Without `sslmode`, no TLS.
 */
export function postgresTls(databaseUrl: string): { url: string; ssl: PostgresSsl } {
  const url = new URL(databaseUrl);
  const p = databaseSslParams(url);
  for (const name of SSL_PARAMS) url.searchParams.delete(name);
  const stripped = url.search === "" ? url.href.replace(/\?$/, "") : url.href;
  if (p.mode === "disable") return { url: stripped, ssl: false };

  const files: TlsOptions = {};
  const rootCert = p.rootCert && p.rootCert !== "system" ? p.rootCert : undefined;
  if (rootCert) files.ca = read(rootCert);
  if (p.cert) files.cert = read(p.cert);
  if (p.key) files.key = read(p.key);
  const host = decodeURIComponent(url.hostname.replace(/^\[(.*)\]$/, "$1")) || "localhost";

  let mode = p.mode;
  if (mode === "require" && rootCert) mode = "verify-ca";
  switch (mode) {
    case "allow":
    case "prefer":
      return { url: stripped, ssl: p.cert || p.key ? { ...files, rejectUnauthorized: false } : "prefer" };
    case "require":
      return { url: stripped, ssl: { ...files, rejectUnauthorized: false } };
    case "verify-ca":
      return { url: stripped, ssl: { ...files, rejectUnauthorized: true, checkServerIdentity: () => undefined } };
    default:
      return {
        url: stripped,
        ssl: { ...files, rejectUnauthorized: true, host, ...(isIp(host) ? {} : { servername: host }) },
      };
  }
}
