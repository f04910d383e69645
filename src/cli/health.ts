/**
 * `db-writer health`: checks Redis and PostgreSQL, asks a running instance
 * (on HTTP_PORT) for its state and stats, prints JSON, exits 0 when healthy.
 */
import type { Config } from "../config/load.ts";
import { printError, printLine } from "../log.ts";
import { describe } from "../errors.ts";
import { checkDependencies, type HealthReport } from "../ops/health.ts";
import { openRedis } from "../source/redis.ts";
import { openPostgres } from "../sink/client.ts";

async function askRunningInstance(host: string, port: number): Promise<Pick<HealthReport, "running" | "stats">> {
  try {
    const res = await fetch(`http://${host.includes(":") ? `[${host}]` : host}:${port}/readyz`, {
      signal: AbortSignal.timeout(3000),
    });
    const body = await res.json() as Partial<HealthReport>;
    return { running: body.running === true, stats: body.stats ?? null };
  } catch {
    return { running: false, stats: null };
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
      config.httpPort === 0 ? Promise.resolve({ running: null, stats: null }) : askRunningInstance(
        ["0.0.0.0", "::", ""].includes(config.httpHost) ? "127.0.0.1" : config.httpHost,
        config.httpPort,
      ),
    ]);
    const report: HealthReport = { running: instance.running, ...deps, stats: instance.stats };
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
    return report.redis && report.database && report.running !== false ? 0 : 1;
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

function reason(err: unknown): string {
  return err === undefined ? "no answer within 3 s" : describe(err);
}
