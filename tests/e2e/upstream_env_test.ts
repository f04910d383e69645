/**
 * The service started from the iotDashboard writer's DB_* set: it connects,
 * and its password appears nowhere in what it prints.
 */
import assert from "node:assert/strict";
import { DATABASE_URL, REDIS_URL } from "../_helpers/services.ts";
import { createWorld } from "../_helpers/world.ts";
import { message, runCli, spawnService, stopService } from "../_helpers/process.ts";

Deno.test("the service connects with the DB_* set and never prints its password", async () => {
  const db = new URL(DATABASE_URL);
  const password = "n0t:pr1nted@all/%";
  const out = await runCli(["health"], {
    REDIS_URL,
    DB_HOST: db.hostname,
    DB_PORT: db.port || "5432",
    DB_NAME: db.pathname.slice(1) || "postgres",
    DB_USER: decodeURIComponent(db.username) || "postgres",
    DB_PASSWORD: password,
    HTTP_PORT: "0",
  });
  assert.equal(out.code, 0, `${out.stdout}\n${out.stderr}`);
  assert.equal(JSON.parse(out.stdout).database, true);
  const printed = `${out.stdout}${out.stderr}`;
  assert.ok(!printed.includes(password), "password printed");
  assert.ok(!printed.includes(encodeURIComponent(password)), "encoded password printed");
});

Deno.test("a running service started from the DB_* set logs its URL with the password masked", async () => {
  await using world = await createWorld();
  const db = new URL(DATABASE_URL);
  const password = "Run-n0t:shown@all/%";
  const { DATABASE_URL: _url, ...env } = world.env();
  await using svc = spawnService(["run"], {
    ...env,
    DB_HOST: db.hostname,
    DB_PORT: db.port || "5432",
    DB_NAME: db.pathname.slice(1) || "postgres",
    DB_USER: decodeURIComponent(db.username) || "postgres",
    DB_PASSWORD: password,
  });
  const started = await svc.waitForLog(message("starting db-writer"), 30_000);
  await svc.waitForLog(message("consuming"), 30_000);
  assert.equal(await stopService(svc), 0);
  const url = String((started.config as Record<string, unknown>).databaseUrl);
  assert.match(url, /^postgres:\/\/[^:]+:\*\*\*@/, url);
  const printed = [...svc.lines, ...svc.errLines].join("\n");
  assert.ok(!printed.includes(password), "password printed");
  assert.ok(!printed.includes(encodeURIComponent(password)), "encoded password printed");
});
