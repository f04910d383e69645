/**
 * Once running, a Redis password changed under the service, or a permission
 * taken away, is an outage an operator fixes (like PostgreSQL's SQLSTATE
 * class 28): logged once, `redis_up 0`, not ready, retried until fixed, then
 * consuming resumes. (At start the same errors end the start with exit 1:
 * startup_test.ts.) Against a private `redis-server` started by the test,
 * with one ACL user.
 */
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { spawnService } from "../_helpers/process.ts";
import { DATABASE_URL } from "../_helpers/services.ts";
import { waitFor } from "../_helpers/wait.ts";
import { createWorld, isolatedEnv } from "../_helpers/world.ts";
import { freePort, httpStatus } from "../_helpers/faults.ts";
import { message, stopService } from "../_helpers/process.ts";
import { rowCounts } from "../_helpers/rows.ts";

/** A plain `redis-server` on a free port, default user off, user `app` with password `right`. */
async function startAclRedis(): Promise<{ port: number; admin: Redis } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "db-writer-redis-acl-" });
  await Deno.writeTextFile(
    `${dir}/redis.conf`,
    "user admin on >admin ~* &* +@all\nuser app on >right ~* &* +@all\nuser default off\n",
  );
  const port = freePort();
  const child = new Deno.Command("redis-server", {
    args: [`${dir}/redis.conf`, "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const admin = new Redis({ port, username: "admin", password: "admin", lazyConnect: true, maxRetriesPerRequest: 1 });
  admin.on("error", () => {});
  await waitFor(() => admin.ping().then(() => true, () => false), {
    timeoutMs: 20_000,
    what: "the private redis-server",
  });
  return {
    port,
    admin,
    async [Symbol.asyncDispose]() {
      admin.disconnect();
      child.kill("SIGKILL");
      await child.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

const readyz = async (port: number) => await httpStatus(`http://127.0.0.1:${port}/readyz`);

async function metric(port: number, name: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : undefined;
}

interface AuthFault {
  name: string;
  code: string;
  /** ACL rules given to the user while the service runs */
  deny: string[];
  /** ACL rules that fix it */
  fix: string[];
}

const FAULTS: AuthFault[] = [
  // The password changes and the connections drop: every reconnect is refused.
  {
    name: "a password changed under it (WRONGPASS)",
    code: "WRONGPASS",
    deny: ["resetpass", ">other"],
    fix: [">right"],
  },
  { name: "XREADGROUP taken away (NOPERM)", code: "NOPERM", deny: ["-xreadgroup"], fix: ["+@all"] },
];

for (const fault of FAULTS) {
  Deno.test(`Redis: ${fault.name} is an outage logged once, not ready, and consuming resumes once fixed`, async () => {
    await using world = await createWorld();
    await using redis = await startAclRedis();
    const http = freePort();
    const names = { prefix: world.prefix, group: world.group, table: world.table };
    await using svc = spawnService(["run"], {
      ...isolatedEnv(names),
      REDIS_URL: `redis://app:right@127.0.0.1:${redis.port}/0`,
      DATABASE_URL,
      HTTP_PORT: String(http),
      HTTP_HOST: "127.0.0.1",
      LOG_FORMAT: "json",
      RETRY_MAX_MS: "500",
      STATS_INTERVAL_SEC: "60",
    });
    await svc.waitForLog(message("consuming"), 30_000);
    // A stream is being read (a blocking read in flight) when the fault comes:
    // the read fails first with a bare "connection lost", the cause comes after.
    const stream = `${world.prefix}:d1:temp`;
    await redis.admin.xadd(stream, "*", "value", "1", "timestamp", "2026-11-28T10:00:00Z");
    await waitFor(async () => (await rowCounts(world)).rows === 1, { timeoutMs: 30_000, what: "the first row" });
    await redis.admin.call("ACL", "SETUSER", "app", ...fault.deny);
    if (fault.code === "WRONGPASS") await redis.admin.call("CLIENT", "KILL", "USER", "app");
    await redis.admin.xadd(stream, "*", "value", "2", "timestamp", "2026-11-28T10:00:01Z");
    await svc.waitForLog((r) => r.message === "redis unavailable; retrying until it is back", 30_000);
    await new Promise((r) => setTimeout(r, 4_000)); // several retries
    assert.equal(await metric(http, "db_writer_redis_up"), 0);
    assert.equal(await metric(http, "db_writer_ready"), 0);
    // /readyz pings: a NOPERM user still answers PING (readiness from the loop's own state is another change).
    if (fault.code === "WRONGPASS") assert.equal(await readyz(http), 503);
    const loud = svc.records().filter((r) => r.level === "ERROR" || r.level === "WARN");
    assert.equal(loud.length, 1, `one line for the outage, not one per retry:\n${JSON.stringify(loud, null, 1)}`);
    assert.match(String(loud[0]!.error), new RegExp(fault.code));
    assert.ok(!svc.lines.join("\n").includes("right@"), "no password printed");

    // The operator fixes the ACL: the service recovers without a restart.
    await redis.admin.call("ACL", "SETUSER", "app", ...fault.fix);
    await svc.waitForLog(message("redis available again"), 30_000);
    await waitFor(async () => (await rowCounts(world)).rows === 2, { timeoutMs: 30_000, what: "the second row" });
    // (With NOPERM, the read in flight may have taken the second entry before the ACL changed: a third proves it.)
    await redis.admin.xadd(stream, "*", "value", "3", "timestamp", "2026-11-28T10:00:02Z");
    await waitFor(async () => (await rowCounts(world)).rows === 3, { timeoutMs: 30_000, what: "a row after the fix" });
    assert.equal(await metric(http, "db_writer_redis_up"), 1);
    assert.equal(await stopService(svc), 0);
  });
}
