/**
 * Secrets never reach any output: a Redis ACL user's password and a
 * PostgreSQL SCRAM password (both real: the servers, started here, demand
 * them, over TLS) are absent from everything the program prints or serves:
 * the service's logs at DEBUG, /metrics, /readyz, /healthz, `health`,
 * `migrate status`, `dlq list`, configuration errors and connection failures
 * (closed ports, wrong passwords).
 */
import assert from "node:assert/strict";
import { addEntries } from "../_helpers/streams.ts";
import { isolatedEnv, uniqueName } from "../_helpers/world.ts";
import { exitWithin, message, runCli, spawnService, stopService } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { freePort } from "../_helpers/net.ts";
import { missingTools, pkiInServiceDir, startTlsPostgres, startTlsRedis } from "../_helpers/tls.ts";

/** Working directory of every db-writer run in this file: its certs/ holds the test PKI. */
let serviceCwd: string | undefined;

const skipReason = await missingTools();
const USER = "writer";
const tag = () => crypto.randomUUID().replaceAll("-", "").slice(0, 12);
// Distinctive, with characters that need percent-encoding in a URL.
const REDIS_SECRET = `Rd@Acl-${tag()}`;
const PG_SECRET = `Pg#Pw-${tag()}`;
const WRONG_REDIS_SECRET = `WrongRd@${tag()}`;
const WRONG_PG_SECRET = `WrongPg#${tag()}`;
const SECRETS = [REDIS_SECRET, PG_SECRET, WRONG_REDIS_SECRET, WRONG_PG_SECRET];

/** Every form in which a secret could show: as is, URL-encoded, and its random part alone. */
const FORMS = SECRETS.flatMap((s) => [s, encodeURIComponent(s), s.slice(-12)]);

/** Named outputs collected by the test, all checked at the end. */
type Outputs = [what: string, text: string][];

function assertNoSecret(outputs: Outputs): void {
  for (const [what, text] of outputs) {
    for (const form of FORMS) {
      const line = text.split("\n").find((l) => l.includes(form));
      assert.equal(line, undefined, `a secret (${form}) appears in ${what}: ${line}`);
    }
  }
}

Deno.test({
  name: skipReason ? `secrets never appear in output (skipped: ${skipReason})` : "secrets never appear in output",
  ignore: skipReason !== undefined,
  async fn(t) {
    const { dir, pki } = await pkiInServiceDir();
    const outputs: Outputs = [];
    try {
      serviceCwd = dir;
      await using redisServer = await startTlsRedis(pki, USER, REDIS_SECRET);
      await using pgServer = await startTlsPostgres(pki, USER, PG_SECRET);
      const redis = redisServer.client();
      try {
        const redisUrl = (pw: string, port = redisServer.port) =>
          `rediss://${USER}:${encodeURIComponent(pw)}@127.0.0.1:${port}/0`;
        const dbUrl = (pw: string, port = pgServer.port, sslmode = "verify-full") =>
          `postgres://${USER}:${encodeURIComponent(pw)}@127.0.0.1:${port}/app?sslmode=${sslmode}&sslrootcert=${pki.ca}`;
        const prefix = uniqueName("s");
        const group = uniqueName("g");
        const httpPort = freePort();
        const env: Record<string, string> = {
          REDIS_URL: redisUrl(REDIS_SECRET),
          REDIS_TLS_CA_FILE: pki.ca,
          REDIS_TLS_CERT_FILE: pki.clientCert,
          REDIS_TLS_KEY_FILE: pki.clientKey,
          DATABASE_URL: dbUrl(PG_SECRET),
          ...isolatedEnv({ prefix, group, table: `${prefix}_readings` }),
          HTTP_PORT: String(httpPort),
          HTTP_HOST: "127.0.0.1",
          LOG_LEVEL: "debug",
          STATS_INTERVAL_SEC: "0.2",
        };

        await t.step("a running service: logs at DEBUG, every HTTP endpoint, health, migrate, dlq", async () => {
          const stream = `${prefix}:dev-1:temperature`;
          await addEntries(redis, stream, [
            { value: "1.5", timestamp: "2026-11-28T10:00:00Z" },
            { value: "not a number", timestamp: "2026-11-28T10:00:01Z" },
          ]);
          await using svc = spawnService(["run"], env, { cwd: serviceCwd });
          await svc.waitForLog(message("consuming"), 30_000);
          await addEntries(redis, stream, [{ value: "2.5", timestamp: "2026-11-28T10:00:02Z" }]);
          await waitFor(async () => (await redis.xlen(`${prefix}_failed`)) === 1, {
            timeoutMs: 30_000,
            what: "one dead letter",
          });
          await svc.waitForLog((r) => r.message === "throughput" && Number(r.total_written) === 2, 30_000);
          for (const path of ["/metrics", "/readyz", "/healthz", "/nope"]) {
            const res = await fetch(`http://127.0.0.1:${httpPort}${path}`);
            const body = await res.text();
            if (path === "/readyz") assert.equal(res.status, 200, body);
            outputs.push([`GET ${path}`, `${res.status} ${JSON.stringify([...res.headers])}\n${body}`]);
          }
          assert.match(outputs.find(([w]) => w === "GET /metrics")![1], /db_writer_rows_written_total 2/);
          for (const args of [["health"], ["migrate", "status"], ["dlq", "list"]]) {
            const out = await runCli(args, env, { cwd: serviceCwd });
            assert.equal(out.code, 0, `${args.join(" ")}: ${out.stderr}`);
            outputs.push([args.join(" "), out.stdout + out.stderr]);
          }
          assert.equal(await stopService(svc, 30_000), 0);
          outputs.push(["the service's stdout and stderr", [...svc.lines, ...svc.errLines].join("\n")]);
          assert.ok(svc.lines.length > 10, "the service said plenty at DEBUG");
        });

        await t.step("the four REDIS_* variables with REDIS_USERNAME and REDIS_TLS work too", async () => {
          const { REDIS_URL: _u, ...rest } = env;
          const out = await runCli(["health"], {
            ...rest,
            HTTP_PORT: "0",
            REDIS_HOST: "127.0.0.1",
            REDIS_PORT: String(redisServer.port),
            REDIS_USERNAME: USER,
            REDIS_PASSWORD: REDIS_SECRET,
            REDIS_TLS: "true",
          }, { cwd: serviceCwd });
          assert.equal(out.code, 0, out.stderr);
          outputs.push(["health with REDIS_PASSWORD", out.stdout + out.stderr]);
        });

        await t.step("configuration errors", async () => {
          const cases: Record<string, string>[] = [
            { REDIS_URL: `${redisUrl(REDIS_SECRET).replace(/\/0$/, "/99")}`, BATCH_SIZE: "many" },
            { DATABASE_URL: dbUrl(PG_SECRET, pgServer.port, "sometimes") },
            { DATABASE_URL: `mysql://${USER}:${PG_SECRET}@127.0.0.1/app` },
            { REDIS_URL: "", REDIS_USERNAME: USER, REDIS_PASSWORD: REDIS_SECRET, REDIS_PORT: "seventy" },
            { REDIS_URL: `redis://${USER}:${encodeURIComponent(REDIS_SECRET)}@127.0.0.1:6379/0` }, // CA file without TLS
          ];
          for (const extra of cases) {
            const out = await runCli(["run"], { ...env, ...extra }, { cwd: serviceCwd });
            assert.equal(out.code, 2, out.stderr);
            assert.match(out.stderr, /configuration has \d+ problem/);
            outputs.push([`config error ${Object.keys(extra).join(",")}`, out.stdout + out.stderr]);
          }
        });

        await t.step("connection failures: closed ports, wrong passwords", async () => {
          const closed = freePort();
          const down = await runCli(["health"], {
            ...env,
            REDIS_URL: redisUrl(REDIS_SECRET, closed),
            DATABASE_URL: dbUrl(PG_SECRET, closed),
          }, { cwd: serviceCwd });
          assert.equal(down.code, 1, down.stderr);
          assert.match(down.stderr, /ECONNREFUSED/);
          outputs.push(["health, ports closed", down.stdout + down.stderr]);

          const wrong = { ...env, REDIS_URL: redisUrl(WRONG_REDIS_SECRET), DATABASE_URL: dbUrl(WRONG_PG_SECRET) };
          const health = await runCli(["health"], wrong, { cwd: serviceCwd });
          assert.equal(health.code, 1, health.stderr);
          assert.match(health.stderr, /redis at .*WRONGPASS/);
          assert.match(health.stderr, /postgres: 28P01: password authentication failed/);
          outputs.push(["health, wrong passwords", health.stdout + health.stderr]);

          const migrate = await runCli(["migrate", "status"], wrong, { cwd: serviceCwd });
          assert.equal(migrate.code, 1, migrate.stderr);
          outputs.push(["migrate status, wrong password", migrate.stdout + migrate.stderr]);

          // Refused credentials at start-up are not an outage: waiting will not fix them.
          await using svc = spawnService(["run"], { ...wrong, HTTP_PORT: String(freePort()) }, { cwd: serviceCwd });
          assert.equal((await exitWithin(svc, 60_000)).code, 1);
          await svc.waitForLog(message("cannot start: postgres refused the credentials"), 1_000);
          outputs.push(["the service with wrong passwords", [...svc.lines, ...svc.errLines].join("\n")]);
          await using svcRedis = spawnService(["run"], {
            ...env,
            REDIS_URL: redisUrl(WRONG_REDIS_SECRET),
            HTTP_PORT: String(freePort()),
          }, { cwd: serviceCwd });
          assert.equal((await exitWithin(svcRedis, 60_000)).code, 1);
          await svcRedis.waitForLog(
            (r) => /^cannot start: redis refused the credentials/.test(String(r.message)),
            1_000,
          );
          outputs.push([
            "the service with a wrong Redis password",
            [...svcRedis.lines, ...svcRedis.errLines].join("\n"),
          ]);
        });

        await t.step("no output holds any secret, in any form", () => {
          assert.ok(outputs.length >= 15, `collected ${outputs.length} outputs`);
          assert.throws(() => assertNoSecret([["a probe", `x ${encodeURIComponent(PG_SECRET)} y`]]), /a probe/);
          assertNoSecret(outputs);
        });
      } finally {
        redis.disconnect();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
