/**
 * Pure tests of the TLS settings: the REDIS_TLS_* variables and DATABASE_URL's
 * sslmode/sslrootcert/sslcert/sslkey (validated, files checked), how each
 * sslmode maps to connect options, and how TLS failures are classified and
 * explained. Only reads a few files written to a temporary directory.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../src/config/load.ts";
import { classify, ConfigError, describe } from "../../src/errors.ts";
import { postgresTls, redisTlsOptions } from "../../src/tls.ts";
import { tlsHint } from "../../src/errors.ts";

const HOST = { hostname: "box", pid: 1 };
const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

function problems(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env, HOST);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail(`expected a ConfigError for ${JSON.stringify(env)}`);
}

Deno.test("TLS settings", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "db-writer-tls-config-" });
  const ca = `${dir}/ca.pem`, cert = `${dir}/client.pem`, key = `${dir}/client.key`, notPem = `${dir}/notes.txt`;
  await Deno.writeTextFile(ca, PEM);
  await Deno.writeTextFile(cert, PEM);
  await Deno.writeTextFile(key, "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n");
  await Deno.writeTextFile(notPem, "hello");
  const missing = `${dir}/missing.pem`;
  try {
    await t.step("rediss:// with CA, client certificate and key", () => {
      const c = loadConfig({
        REDIS_URL: "rediss://app:pw@cache.example:6380/2",
        REDIS_TLS_CA_FILE: ca,
        REDIS_TLS_CERT_FILE: cert,
        REDIS_TLS_KEY_FILE: key,
      }, HOST);
      assert.deepEqual(c.redis, {
        host: "cache.example",
        port: 6380,
        db: 2,
        username: "app",
        password: "pw",
        tls: true,
        tlsCaFile: ca,
        tlsCertFile: cert,
        tlsKeyFile: key,
      });
      assert.deepEqual(redisTlsOptions(c.redis), {
        ca: PEM,
        cert: Deno.readTextFileSync(cert),
        key: Deno.readTextFileSync(key),
        servername: "cache.example",
      });
    });

    await t.step("REDIS_TLS and REDIS_USERNAME for the four REDIS_* variables", () => {
      const c = loadConfig(
        { REDIS_HOST: "10.0.0.5", REDIS_USERNAME: "app", REDIS_PASSWORD: "pw", REDIS_TLS: "yes" },
        HOST,
      );
      assert.deepEqual(c.redis, { host: "10.0.0.5", port: 6379, db: 0, username: "app", password: "pw", tls: true });
      assert.deepEqual(redisTlsOptions(c.redis), {}, "no SNI for an IP address; system CAs");
      assert.equal(redisTlsOptions(loadConfig({}, HOST).redis), undefined, "TLS off by default");
    });

    await t.step("bad REDIS_TLS_* values: one clear line each", () => {
      const cases: [Record<string, string>, RegExp][] = [
        [
          { REDIS_URL: "rediss://h", REDIS_TLS_CA_FILE: missing },
          /^REDIS_TLS_CA_FILE: got ".*missing\.pem", expected a readable PEM file, but cannot read it: .*No such file/,
        ],
        [{ REDIS_URL: "rediss://h", REDIS_TLS_CA_FILE: notPem }, /^REDIS_TLS_CA_FILE: .*holds no PEM block/],
        [{ REDIS_URL: "rediss://h", REDIS_TLS_CA_FILE: dir }, /^REDIS_TLS_CA_FILE: .*cannot read it/],
        [
          { REDIS_URL: "redis://h", REDIS_TLS_CA_FILE: ca },
          /^REDIS_TLS_CA_FILE: .*expected TLS to be on \(a rediss:\/\/ REDIS_URL, or REDIS_TLS=true\)/,
        ],
        [{ REDIS_TLS_CERT_FILE: cert, REDIS_TLS_KEY_FILE: key }, /^REDIS_TLS_CERT_FILE: .*expected TLS to be on/],
        [{ REDIS_TLS: "true", REDIS_TLS_CERT_FILE: cert }, /^REDIS_TLS_KEY_FILE: got nothing, .*go together/],
        [{ REDIS_URL: "rediss://h", REDIS_TLS_KEY_FILE: key }, /^REDIS_TLS_CERT_FILE: got nothing/],
        [{ REDIS_TLS: "maybe" }, /^REDIS_TLS: got "maybe", expected true or false/],
        [{ REDIS_URL: "redis://h", REDIS_TLS: "true" }, /^REDIS_TLS: got "true", expected it unset or in step with/],
        [{ REDIS_URL: "rediss://h", REDIS_TLS: "no" }, /^REDIS_TLS: got "no", expected it unset or in step with/],
        [{ REDIS_URL: "redis://h", REDIS_USERNAME: "bob" }, /^REDIS_USERNAME: got "bob", expected it unset when/],
      ];
      loadConfig({ REDIS_URL: "rediss://h", REDIS_TLS: "true" }, HOST); // in step: fine
      loadConfig({ REDIS_URL: "redis://h", REDIS_TLS: "false" }, HOST);
      for (const [env, want] of cases) {
        const p = problems(env);
        assert.equal(p.length, env.REDIS_TLS_CERT_FILE && env.REDIS_TLS_KEY_FILE ? 2 : 1, JSON.stringify(p));
        assert.match(p[0]!, want);
      }
    });

    await t.step("DATABASE_URL: sslmode must be a libpq value; its files must be readable PEM", () => {
      for (const mode of ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]) {
        loadConfig({ DATABASE_URL: `postgres://u@h/db?sslmode=${mode}` }, HOST);
      }
      loadConfig({ DATABASE_URL: `postgres://u@h/db?sslmode=verify-full&sslrootcert=system` }, HOST);
      const cases: [string, RegExp][] = [
        [
          "sslmode=verify",
          /expected sslmode to be one of disable, allow, prefer, require, verify-ca, verify-full \(got "verify"\)/,
        ],
        [
          `sslmode=verify-ca&sslrootcert=${missing}`,
          /expected sslrootcert to be a readable PEM file, but for ".*missing\.pem" cannot read it/,
        ],
        [`sslmode=require&sslcert=${cert}`, /expected sslcert and sslkey to be given together/],
        [
          `sslmode=require&sslcert=${notPem}&sslkey=${key}`,
          /expected sslcert to be a readable PEM file, .*no PEM block/,
        ],
      ];
      for (const [query, want] of cases) {
        const p = problems({ DATABASE_URL: `postgres://u:Secr3tPw@h/db?${query}` });
        assert.equal(p.length, 1, JSON.stringify(p));
        assert.match(p[0]!, /^DATABASE_URL: got "postgres:\/\/u:\*\*\*@h\/db\?/);
        assert.match(p[0]!, want);
        assert.ok(!p[0]!.includes("Secr3tPw"));
      }
    });

    await t.step("sslmode → postgres.js ssl option, like libpq; TLS parameters never reach the server", () => {
      const url = (q: string) => `postgres://u:p@db.example:5432/app?application_name=x&${q}`;
      const stripped = "postgres://u:p@db.example:5432/app?application_name=x";
      assert.deepEqual(postgresTls("postgres://u@h/db"), { url: "postgres://u@h/db", ssl: false });
      assert.deepEqual(postgresTls("postgres://u@h/db?sslmode=disable"), { url: "postgres://u@h/db", ssl: false });
      assert.deepEqual(postgresTls(url("sslmode=prefer")), { url: stripped, ssl: "prefer" });
      assert.deepEqual(postgresTls(url("sslmode=allow")), { url: stripped, ssl: "prefer" });
      assert.deepEqual(postgresTls(url("sslmode=require")), { url: stripped, ssl: { rejectUnauthorized: false } });

      const requireCa = postgresTls(url(`sslmode=require&sslrootcert=${ca}`));
      assert.equal(requireCa.url, stripped);
      const verifyCa = postgresTls(url(`sslmode=verify-ca&sslrootcert=${ca}&sslcert=${cert}&sslkey=${key}`));
      for (const { ssl } of [requireCa, verifyCa]) {
        assert.ok(typeof ssl === "object");
        assert.equal(ssl.ca, PEM);
        assert.equal(ssl.rejectUnauthorized, true);
        assert.equal(ssl.checkServerIdentity?.("other.example", {}), undefined, "no host name check");
      }
      assert.ok(typeof verifyCa.ssl === "object" && verifyCa.ssl.key?.includes("PRIVATE KEY"));

      assert.deepEqual(postgresTls(url(`sslmode=verify-full&sslrootcert=${ca}`)), {
        url: stripped,
        ssl: { ca: PEM, rejectUnauthorized: true, host: "db.example", servername: "db.example" },
      });
      assert.deepEqual(postgresTls("postgres://u@127.0.0.1:5/db?sslmode=verify-full&sslrootcert=system"), {
        url: "postgres://u@127.0.0.1:5/db",
        ssl: { rejectUnauthorized: true, host: "127.0.0.1" },
      });
    });

    await t.step("TLS failures are transient (never dead-lettered) and explained", () => {
      const err = (code: string, message: string) => Object.assign(new Error(message), { code });
      const cases: [Error, RegExp][] = [
        [
          err("SELF_SIGNED_CERT_IN_CHAIN", "self-signed certificate in certificate chain"),
          /REDIS_TLS_CA_FILE.*sslrootcert/,
        ],
        [
          err("UNABLE_TO_VERIFY_LEAF_SIGNATURE", "unable to verify the first certificate"),
          /not signed by a trusted CA/,
        ],
        [err("ERR_TLS_CERT_ALTNAME_INVALID", "Hostname/IP does not match"), /verify-ca/],
        [err("CERT_HAS_EXPIRED", "certificate has expired"), /validity period/],
        [
          err("ECONNRESET", "Client network socket disconnected before secure TLS connection was established"),
          /closed the connection during the TLS handshake/,
        ],
        [
          err("ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED", "received fatal alert: CertificateRequired"),
          /REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE.*sslcert and sslkey/,
        ],
      ];
      for (const [e, hint] of cases) {
        assert.equal(classify(e), "transient", e.message);
        assert.match(tlsHint(e) ?? "", hint);
        assert.ok(describe(e).startsWith(`${(e as Error & { code: string }).code}: ${e.message}; `), describe(e));
      }
      assert.equal(tlsHint(err("ECONNREFUSED", "connect ECONNREFUSED")), undefined);
      assert.equal(describe(err("ECONNREFUSED", "connect ECONNREFUSED")), "ECONNREFUSED: connect ECONNREFUSED");
      assert.equal(classify(new Error("value is not a number")), "unknown", "unrelated errors stay unknown");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
