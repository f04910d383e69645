/**
 * `db-writer health`: asks a running instance (on HTTP_PORT) for its
 * readiness, the same report as its /readyz; checks Redis and PostgreSQL
 * itself too, to say why one fails. Prints JSON, exits 0 when ready.
 */
import type { Config } from "../config/load.ts";
import { printError, printLine } from "../log.ts";
import { describe } from "../errors.ts";
import { checkDependencies, type HealthReport } from "../ops/health.ts";
import { openRedis } from "../source/redis.ts";
import { openPostgres } from "../sink/client.ts";
import { authorizationHeader, httpTls } from "../ops/http_config.ts";

/**
 * The running instance's own report (its /readyz), or undefined when none
 * answers. With HTTPS it asks `localhost` and trusts the certificates of
 * HTTP_TLS_CERT_FILE; it sends the configured credentials.
 */
async function askRunningInstance(config: Config): Promise<HealthReport | undefined> {
  const wildcard = ["0.0.0.0", "::", ""].includes(config.httpHost);
  const tls = httpTls(config);
  const host = tls && (wildcard || config.httpHost === "127.0.0.1")
    ? "localhost"
    : wildcard
    ? "127.0.0.1"
    : config.httpHost;
  using client = tls ? Deno.createHttpClient({ caCerts: pemBlocks(tls.cert) }) : undefined;
  try {
    const url = `${tls ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${config.httpPort}/readyz`;
    const res = await fetch(url, {
      signal: AbortSignal.timeout(3000),
      headers: authorizationHeader(config),
      ...(client ? { client } : {}),
    });
    const body = await res.json() as Partial<HealthReport>;
    if (typeof body.redis !== "boolean" || typeof body.database !== "boolean") return undefined;
    return {
      running: body.running === true,
      redis: body.redis,
      database: body.database,
      ready: body.ready ?? res.ok,
      lag: typeof body.lag === "number" ? body.lag : null,
      stats: body.stats ?? null,
    };
  } catch {
    return undefined;
  }
}

/**
 * Prints the health report; resolves with 0 (healthy) or 1. Why a service
 * failed goes to stderr, so stdout stays one JSON document.
 */
export async function runHealth(config: Config): Promise<number> {
  let redisError: unknown, databaseError: unknown;
  await using redis = openRedis(config.redis, {
    name: "db-writer:health",
    commandTimeoutMs: 3000,
    onError: (err) => {
      redisError ??= err;
    },
  });
  await using sql = openPostgres(config.databaseUrl, { max: 2, connectTimeoutSec: 3 });
  {
    const [deps, instance] = await Promise.all([
      checkDependencies(redis, sql, 3000, (err) => {
        databaseError = err;
      }),
      config.httpPort === 0 ? Promise.resolve(null) : askRunningInstance(config),
    ]);
    // A running instance's readiness is the one truth (the same as its /readyz and /metrics); without one
    // (HTTP_PORT=0, or none answering) only this command's own pings can tell.
    const report: HealthReport = instance ?? {
      running: instance === null ? null : false,
      ...deps,
      ready: instance === null ? deps.redis && deps.database : false,
      lag: null,
      stats: null,
    };
    printLine(JSON.stringify(report));
    if (!report.redis) {
      const where = `${config.redis.host}:${config.redis.port}`;
      const tlsNote = !config.redis.tls
        ? ""
        : redisError === undefined
        ? " (TLS is on: does that port serve TLS?)"
        : droppedWithoutClientCert(redisError, config.redis.tlsCertFile)
        ? " (the server dropped the TLS connection: if it requires a client certificate, set REDIS_TLS_CERT_FILE " +
          "and REDIS_TLS_KEY_FILE)"
        : "";
      printError(`db-writer: redis at ${where}: ${reason(redisError)}${tlsNote}`);
    }
    if (!report.database) printError(`db-writer: postgres: ${reason(databaseError)}`);
    return report.ready ? 0 : 1;
  }
}

/**
 * A TLS server that requires a client certificate may answer its absence
 * with an alert (CERTIFICATE_REQUIRED, named by the error's own hint) or, by
 * the time the client writes, with a closed socket: say what is likely then.
 */
function droppedWithoutClientCert(err: unknown, certFile: string | undefined): boolean {
  const code = typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
  return certFile === undefined && (code === "EPIPE" || code === "ECONNRESET");
}

/** Each PEM certificate of a file. */
function pemBlocks(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

function reason(err: unknown): string {
  return err === undefined ? "no answer within 3 s" : describe(err);
}
