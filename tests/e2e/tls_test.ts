/**
 * TLS on both sides against servers this test starts: a TLS-only Redis that
 * requires a client certificate, and a PostgreSQL that accepts only TLS
 * connections, both with a certificate from a CA made here. Covers the full
 * cycle and `health` over TLS, and the failures an operator meets: no CA, the
 * wrong CA, a host name the certificate does not name; each gives a clear
 * error within a bound, never a hang, and never a dead letter.
 */
import assert from "node:assert/strict";
import { addEntries, pendingCount } from "../_helpers/streams.ts";
import { DATABASE_URL as PLAIN_DATABASE_URL, REDIS_URL as PLAIN_REDIS_URL } from "../_helpers/services.ts";
import { isolatedEnv, uniqueName } from "../_helpers/world.ts";
import { exitWithin, message, spawnService, stopService } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { freePort } from "../_helpers/net.ts";
import { missingTools, pkiInServiceDir, startTlsPostgres, startTlsRedis } from "../_helpers/tls.ts";

/** Working directory of every db-writer run in this file: its certs/ holds the test PKI. */
let serviceCwd: string | undefined;

const skipReason = await missingTools();
const USER = "writer";
const REDIS_PASSWORD = "redis-pw-tls";
const PG_PASSWORD = "pg-pw-tls";

/** Runs a CLI command that must finish within 30 s (a hang fails the test). */
async function cli(args: string[], env: Record<string, string>) {
  const svc = spawnService(args, env, { cwd: serviceCwd });
  const status = await exitWithin(svc, 30_000, `db-writer ${args.join(" ")} to exit`);
  return { code: status.code, stdout: svc.lines.join("\n"), stderr: svc.errLines.join("\n") };
}

function healthReport(stdout: string): Record<string, unknown> {
  return JSON.parse(stdout.trim().split("\n").at(-1) ?? "{}");
}

Deno.test({
  name: skipReason ? `TLS to Redis and PostgreSQL (skipped: ${skipReason})` : "TLS to Redis and PostgreSQL",
  ignore: skipReason !== undefined,
  async fn(t) {
    const { dir, pki } = await pkiInServiceDir();
    try {
      serviceCwd = dir;
      await using redisServer = await startTlsRedis(pki, USER, REDIS_PASSWORD);
      await using pgServer = await startTlsPostgres(pki, USER, PG_PASSWORD);
      const redis = redisServer.client();
      const sql = pgServer.sql();
      try {
        const redisUrl = (host = "127.0.0.1") => `rediss://${USER}:${REDIS_PASSWORD}@${host}:${redisServer.port}/0`;
        const dbUrl = (params: Record<string, string>, host = "127.0.0.1") =>
          `postgres://${USER}:${PG_PASSWORD}@${host}:${pgServer.port}/app?${new URLSearchParams(params)}`;
        const verifyFull = { sslmode: "verify-full", sslrootcert: pki.ca };
        const clientCert = { REDIS_TLS_CERT_FILE: pki.clientCert, REDIS_TLS_KEY_FILE: pki.clientKey };
        const good: Record<string, string> = {
          REDIS_URL: redisUrl(),
          REDIS_TLS_CA_FILE: pki.ca,
          ...clientCert,
          DATABASE_URL: dbUrl(verifyFull),
          HTTP_PORT: "0",
          LOG_FORMAT: "json",
        };

        await t.step("full cycle and health over TLS: read, write, ack; connections are encrypted", async () => {
          const prefix = uniqueName("s");
          const group = uniqueName("g");
          const stream = `${prefix}:dev-1:temperature`;
          const httpPort = freePort();
          const env = {
            ...good,
            ...isolatedEnv({ prefix, group, table: `${prefix}_readings` }),
            HTTP_PORT: String(httpPort),
            HTTP_HOST: "127.0.0.1",
          };
          const entry = (i: number) => ({ value: String(20 + i), timestamp: `2026-11-28T10:00:0${i}Z` });
          await addEntries(redis, stream, [0, 1, 2].map(entry));
          await using svc = spawnService(["run"], env, { cwd: serviceCwd });
          await svc.waitForLog(message("consuming"), 30_000);
          await addEntries(redis, stream, [3, 4].map(entry));
          const count = async () => {
            try {
              const [r] = await sql.unsafe(`SELECT count(*)::int AS n FROM "${prefix}_readings"`);
              return Number(r!.n);
            } catch {
              return 0;
            }
          };
          await waitFor(async () => (await count()) === 5, { timeoutMs: 30_000, what: "5 rows written over TLS" });
          await waitFor(async () => (await pendingCount(redis, stream, group)) === 0, {
            timeoutMs: 30_000,
            what: "every entry acked",
          });
          const [enc] = await sql`
            SELECT count(*)::int AS n FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.application_name = 'db-writer' AND s.ssl`;
          assert.ok(Number(enc!.n) >= 1, "the service's PostgreSQL connections use TLS");
          const values = await sql.unsafe(`SELECT value FROM "${prefix}_readings" ORDER BY value`);
          assert.deepEqual(values.map((r) => Number(r.value)), [20, 21, 22, 23, 24]);

          const health = await cli(["health"], env);
          assert.equal(health.code, 0, `${health.stdout}\n${health.stderr}`);
          assert.deepEqual(
            { ...healthReport(health.stdout), lag: null, stats: null },
            { running: true, redis: true, database: true, ready: true, lag: null, stats: null },
          );
          const ready = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
          assert.equal(ready.status, 200);
          assert.equal((await ready.json()).database, true);
          assert.equal(await stopService(svc, 30_000), 0);
        });

        await t.step("rediss:// without a CA, verify-full without sslrootcert: clear errors, exit 1", async () => {
          const { REDIS_TLS_CA_FILE: _ca, ...env } = good;
          const out = await cli(["health"], { ...env, DATABASE_URL: dbUrl({ sslmode: "verify-full" }) });
          assert.equal(out.code, 1, out.stderr);
          assert.deepEqual(healthReport(out.stdout), {
            running: null,
            redis: false,
            database: false,
            ready: false,
            lag: null,
            stats: null,
          });
          assert.match(
            out.stderr,
            /^db-writer: redis at 127\.0\.0\.1:\d+: .*not signed by a trusted CA: set REDIS_TLS_CA_FILE/m,
          );
          assert.match(out.stderr, /^db-writer: postgres: .*not signed by a trusted CA: .*sslrootcert/m);
        });

        await t.step("the wrong CA on both sides: health says why, within a bound", async () => {
          const out = await cli(["health"], {
            ...good,
            REDIS_TLS_CA_FILE: pki.wrongCa,
            DATABASE_URL: dbUrl({ sslmode: "verify-ca", sslrootcert: pki.wrongCa }),
          });
          assert.equal(out.code, 1, out.stderr);
          assert.deepEqual(healthReport(out.stdout), {
            running: null,
            redis: false,
            database: false,
            ready: false,
            lag: null,
            stats: null,
          });
          assert.match(
            out.stderr,
            /redis at .*(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE).*not signed by a trusted CA/,
          );
          assert.match(
            out.stderr,
            /postgres: (SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE).*not signed by a trusted CA/,
          );
        });

        await t.step("the wrong CA for PostgreSQL while running: one clear outage line, no dead letters", async () => {
          const prefix = uniqueName("s");
          const group = uniqueName("g");
          const stream = `${prefix}:dev-1:temperature`;
          await addEntries(redis, stream, [{ value: "1", timestamp: "2026-11-28T10:00:00Z" }]);
          const httpPort = freePort();
          await using svc = spawnService(["run"], {
            ...good,
            HTTP_PORT: String(httpPort),
            HTTP_HOST: "127.0.0.1",
            DATABASE_URL: dbUrl({ sslmode: "verify-full", sslrootcert: pki.wrongCa }),
            MIGRATE_ON_START: "false",
            ...isolatedEnv({ prefix, group, table: `${prefix}_readings` }),
            RETRY_MAX_MS: "500",
            SHUTDOWN_TIMEOUT_SEC: "1",
            STATS_INTERVAL_SEC: "0.2",
          }, { cwd: serviceCwd });
          const outage = await svc.waitForLog(message("postgres unavailable; retrying until it is back"), 30_000);
          assert.match(
            String(outage.error),
            /(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE).*sslrootcert/,
          );
          await waitFor(async () => (await pendingCount(redis, stream, group)) === 1, {
            timeoutMs: 30_000,
            what: "the entry read",
          });
          // Several retries later (counted by /metrics), the entry is still pending: a TLS failure
          // never dead-letters data.
          await waitFor(async () => {
            const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
            return Number(/^db_writer_errors_total (\S+)$/m.exec(text)?.[1] ?? 0) >= 3;
          }, { timeoutMs: 30_000, what: "three retries" });
          assert.equal(await redis.exists(`${prefix}_failed`), 0, "nothing dead-lettered");
          assert.equal(await pendingCount(redis, stream, group), 1, "the entry stays pending");
          assert.equal(
            svc.records().filter((r) => r.message === "postgres unavailable; retrying until it is back").length,
            1,
          );
          assert.equal(await stopService(svc, 30_000), 1, "the batch in hand could not be written: exit 1");
          assert.equal(await pendingCount(redis, stream, group), 1, "still pending after the stop, for the next start");
        });

        await t.step("the wrong CA for Redis while running: a clear outage line, not a hang", async () => {
          await using svc = spawnService(["run"], {
            ...good,
            REDIS_TLS_CA_FILE: pki.wrongCa,
            STREAM_PATTERN: `${uniqueName("s")}:*`,
            TABLE_NAME: `${uniqueName("t")}_readings`,
            RETRY_MAX_MS: "500",
          }, { cwd: serviceCwd });
          const outage = await svc.waitForLog(message("redis unavailable; retrying until it is back"), 30_000);
          assert.match(
            String(outage.error),
            /(SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE).*REDIS_TLS_CA_FILE/,
          );
          await stopService(svc, 30_000);
        });

        await t.step(
          "verify-full refuses a host name the certificate does not name; verify-ca accepts it",
          async () => {
            const wrongHost = await cli(["health"], {
              ...good,
              REDIS_URL: redisUrl("127.0.0.2"),
              DATABASE_URL: dbUrl(verifyFull, "127.0.0.2"),
            });
            assert.equal(wrongHost.code, 1, wrongHost.stderr);
            assert.deepEqual(healthReport(wrongHost.stdout), {
              running: null,
              redis: false,
              database: false,
              ready: false,
              lag: null,
              stats: null,
            });
            assert.match(wrongHost.stderr, /redis at 127\.0\.0\.2:\d+: ERR_TLS_CERT_ALTNAME_INVALID.*127\.0\.0\.2/);
            assert.match(wrongHost.stderr, /postgres: ERR_TLS_CERT_ALTNAME_INVALID.*127\.0\.0\.2.*verify-ca/);

            const verifyCa = await cli(["health"], {
              ...good,
              DATABASE_URL: dbUrl({ sslmode: "verify-ca", sslrootcert: pki.ca }, "127.0.0.2"),
            });
            assert.equal(verifyCa.code, 0, verifyCa.stderr);
          },
        );

        await t.step("sslmode=require encrypts without verifying; with sslrootcert it verifies the CA", async () => {
          const plain = await cli(["health"], { ...good, DATABASE_URL: dbUrl({ sslmode: "require" }) });
          assert.equal(plain.code, 0, plain.stderr);
          const wrong = await cli(["health"], {
            ...good,
            DATABASE_URL: dbUrl({ sslmode: "require", sslrootcert: pki.wrongCa }),
          });
          assert.equal(wrong.code, 1, wrong.stderr);
          assert.match(wrong.stderr, /postgres: (SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)/);
          const off = await cli(["health"], { ...good, DATABASE_URL: dbUrl({}) });
          assert.equal(off.code, 1, "the server refuses connections without TLS");
          assert.match(off.stderr, /postgres: 28000: .*no encryption/);
        });

        await t.step("TLS to the plain (non-TLS) test services: a clear error within a bound, not a hang", async () => {
          const redisPlain = new URL(PLAIN_REDIS_URL);
          redisPlain.protocol = "rediss:";
          const pgPlain = new URL(PLAIN_DATABASE_URL);
          pgPlain.searchParams.set("sslmode", "verify-full");
          pgPlain.searchParams.set("sslrootcert", pki.ca);
          const out = await cli(["health"], { HTTP_PORT: "0", REDIS_URL: redisPlain.href, DATABASE_URL: pgPlain.href });
          assert.equal(out.code, 1, out.stderr);
          assert.deepEqual(healthReport(out.stdout), {
            running: null,
            redis: false,
            database: false,
            ready: false,
            lag: null,
            stats: null,
          });
          assert.match(out.stderr, /^db-writer: redis at .*\(TLS is on: does that port serve TLS\?\)$/m);
          // A server with ssl=off closes the handshake; one with its own certificate fails the CA check.
          assert.match(out.stderr, /^db-writer: postgres: .*(during the TLS handshake|not signed by a trusted CA)/m);
        });

        await t.step("a server that requires a client certificate, and none given: a clear error", async () => {
          const { REDIS_TLS_CERT_FILE: _c, REDIS_TLS_KEY_FILE: _k, ...env } = good;
          const out = await cli(["health"], env);
          assert.equal(out.code, 1, out.stderr);
          assert.match(
            out.stderr,
            // The alert, or (by the time the client writes) a closed socket: either way the setting is named.
            /^db-writer: redis at 127\.0\.0\.1:\d+: .*(CERTIFICATE_REQUIRED|EPIPE|ECONNRESET).*REDIS_TLS_CERT_FILE/m,
          );
        });
      } finally {
        redis.disconnect();
        await sql.end({ timeout: 5 });
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
