/**
 * The HTTP port's optional authentication (bearer token or basic) and TLS:
 * the request rules on their own, then the real service over HTTPS with a
 * test PKI, asked by `curl`-like clients and by `db-writer health`; the
 * secrets never appear in its output.
 */
import assert from "node:assert/strict";
import { runCli, spawnService } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { createWorld } from "../_helpers/world.ts";
import { freePort } from "../_helpers/faults.ts";
import { missingTools, pkiInServiceDir } from "../_helpers/tls.ts";
import { authorized, handle, type HttpHandlers } from "../../src/ops/http.ts";
import { loadConfig } from "../../src/config/load.ts";

const handlers: HttpHandlers = {
  live: () => true,
  ready: () => Promise.resolve({ running: true, redis: true, database: true, ready: true, stats: null }),
  metrics: () => Promise.resolve("db_writer_ready 1\n"),
};
const get = (path: string, authorization?: string) =>
  new Request(`http://x${path}`, { headers: authorization ? { authorization } : {} });
const basic = (user: string, password: string) => `Basic ${btoa(`${user}:${password}`)}`;

Deno.test("http auth: /readyz and /metrics need the token or the basic credentials; /healthz stays open", async () => {
  const auth = { bearerToken: "s3cret-token", basic: { user: "prom", password: "p@ss:w0rd" } };
  for (const path of ["/readyz", "/metrics"]) {
    assert.equal((await handle(get(path), handlers, auth)).status, 401, path);
    assert.equal((await handle(get(path, "Bearer wrong"), handlers, auth)).status, 401);
    assert.equal((await handle(get(path, "Bearer s3cret-token"), handlers, auth)).status, 200);
    assert.equal((await handle(get(path, basic("prom", "p@ss:w0rd")), handlers, auth)).status, 200);
    assert.equal((await handle(get(path, basic("prom", "wrong")), handlers, auth)).status, 401);
    assert.equal((await handle(get(path, "Basic %%%"), handlers, auth)).status, 401);
  }
  const denied = await handle(get("/metrics"), handlers, auth);
  assert.match(denied.headers.get("www-authenticate") ?? "", /^Basic realm="db-writer"/);
  assert.equal((await handle(get("/healthz"), handlers, auth)).status, 200, "liveness needs no credentials");
  assert.equal((await handle(get("/metrics"), handlers)).status, 200, "no settings: open");
  assert.equal(authorized(get("/metrics", "Bearer s3cret-token"), { basic: auth.basic }), false, "basic only");
});

Deno.test("http auth: the settings go in pairs; a wrong pair is a configuration error", () => {
  assert.throws(() => loadConfig({ HTTP_BASIC_AUTH_USER: "prom" }), /HTTP_BASIC_AUTH_PASSWORD: expected it set/);
  assert.throws(() => loadConfig({ HTTP_BASIC_AUTH_PASSWORD: "x" }), /HTTP_BASIC_AUTH_USER: expected it set/);
});

const missingTlsTools = await missingTools();
const HTTPS_TEST = "http auth: HTTPS with a token on the real service; health gets in, nobody else does";

Deno.test({
  name: missingTlsTools ? `${HTTPS_TEST} (skipped: ${missingTlsTools})` : HTTPS_TEST,
  ignore: missingTlsTools !== undefined,
  async fn() {
    await using world = await createWorld();
    const { dir, pki } = await pkiInServiceDir();
    try {
      // The chain in one file: health trusts the certificates it holds.
      await Deno.writeTextFile(
        `${dir}/certs/http-chain.pem`,
        (await Deno.readTextFile(pki.serverCert)) + (await Deno.readTextFile(pki.ca)),
      );
      const port = freePort();
      const token = "T0ken-never-printed-42";
      const env = world.env({
        HTTP_PORT: String(port),
        HTTP_HOST: "127.0.0.1",
        HTTP_BEARER_TOKEN: token,
        HTTP_TLS_CERT_FILE: "certs/http-chain.pem",
        HTTP_TLS_KEY_FILE: `certs/${pki.serverKey.split("/").pop()}`,
      });
      await using svc = spawnService(["run"], env, { cwd: dir });
      await svc.waitForLog((r) => r.message === "consuming", 60_000);
      using client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(pki.ca)] });
      const status = async (path: string, headers: Record<string, string> = {}) => {
        const res = await fetch(`https://localhost:${port}${path}`, { client, headers });
        await res.body?.cancel();
        return res.status;
      };
      assert.equal(await status("/healthz"), 200);
      assert.equal(await status("/metrics"), 401);
      assert.equal(await status("/readyz"), 401);
      assert.equal(await status("/metrics", { authorization: `Bearer ${token}` }), 200);
      await waitFor(async () => (await status("/readyz", { authorization: `Bearer ${token}` })) === 200, {
        timeoutMs: 30_000,
      });
      const plain = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status, () => 0);
      assert.notEqual(plain, 200, "no plain HTTP on the TLS port");

      const health = await runCli(["health"], env, { cwd: dir });
      assert.equal(health.code, 0, health.stdout + health.stderr);
      assert.equal(JSON.parse(health.stdout).ready, true);
      const without = await runCli(["health"], { ...env, HTTP_BEARER_TOKEN: "wrong" }, { cwd: dir });
      assert.equal(without.code, 1, "a wrong token is refused");

      svc.kill("SIGTERM");
      await svc.status;
      const everything = [...svc.lines, ...svc.errLines, health.stdout, health.stderr].join("\n");
      assert.ok(!everything.includes(token), "the token is never printed");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
