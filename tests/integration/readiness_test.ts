/**
 * Readiness against real Redis and PostgreSQL: any number of requests costs
 * at most one ping per dependency per second, on connections of its own; a
 * frozen server gets no queue of pings; the loop's own view (an outage it
 * met, a batch in hand too long) makes it not ready even while pings answer.
 */
import assert from "node:assert/strict";
import { DATABASE_URL, hostPort, REDIS_URL, withHostPort } from "../_helpers/services.ts";
import { TcpProxy } from "../_helpers/faults.ts";
import { boundedPing, Readiness } from "../../src/ops/readiness.ts";
import { Outage } from "../../src/ops/outage.ts";
import { openPostgres } from "../../src/sink/client.ts";
import { openRedis, pingRedis } from "../../src/source/redis.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { Logger } from "../../src/log.ts";

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function probe(databaseUrl: string, extra: { oldestBatchMs?: () => number; dbOutage?: Outage } = {}) {
  const sql = openPostgres(databaseUrl, { max: 1, connectTimeoutSec: 2 });
  const redis = openRedis(loadConfig({ REDIS_URL }).redis, { name: "readiness-test", commandTimeoutMs: 1000 });
  let queries = 0;
  const readiness = new Readiness({
    running: () => true,
    oldestBatchMs: extra.oldestBatchMs ?? (() => 0),
    stallMs: 1000,
    redisOutage: new Outage("redis", quiet),
    dbOutage: extra.dbOutage ?? new Outage("postgres", quiet),
    pingRedis: () => pingRedis(redis, 1000),
    pingDatabase: boundedPing(() => (queries++, sql`select 1`.execute()), 1000),
    // Long enough that the test's own pace cannot let a second ping through.
    cacheMs: 60_000,
  });
  return {
    readiness,
    queries: () => queries,
    async [Symbol.asyncDispose]() {
      await Promise.all([sql[Symbol.asyncDispose](), redis[Symbol.asyncDispose]()]);
    },
  };
}

Deno.test("readiness: 1,000 concurrent checks cost one ping of each dependency", async () => {
  await using p = probe(DATABASE_URL);
  const states = await Promise.all(Array.from({ length: 1000 }, () => p.readiness.check()));
  assert.ok(states.every((s) => s.ready && s.redis && s.database));
  assert.deepEqual(p.readiness.pings, { redis: 1, database: 1 });
  assert.equal(p.queries(), 1);
  for (let i = 0; i < 100; i++) await p.readiness.check();
  assert.deepEqual(p.readiness.pings, { redis: 1, database: 1 }, "sequential checks reuse the cached answer");
});

Deno.test("readiness: a frozen PostgreSQL is down, and gets no queue of pings", async () => {
  await using proxy = TcpProxy.start(hostPort(DATABASE_URL));
  await using p = probe(withHostPort(DATABASE_URL, "127.0.0.1", proxy.port));
  assert.equal((await p.readiness.check()).database, true);
  proxy.freeze();
  try {
    // Each check past the cache window asks again; the query that never answered blocks new ones.
    const ping = boundedPing(() => new Promise(() => {}), 50);
    assert.equal(await ping(), false);
    assert.equal(await ping(), false);
    let sent = 0;
    const counted = boundedPing(() => (sent++, new Promise(() => {})), 50);
    for (let i = 0; i < 20; i++) assert.equal(await counted(), false);
    assert.equal(sent, 1, "one query in flight at most");
  } finally {
    proxy.thaw();
  }
});

Deno.test("readiness: an outage the loop met, or a batch in hand past the bound, is not ready while pings answer", async () => {
  const dbOutage = new Outage("postgres", quiet);
  let oldest = 0;
  await using p = probe(DATABASE_URL, { oldestBatchMs: () => oldest, dbOutage });
  assert.equal((await p.readiness.check()).ready, true);
  oldest = 5000;
  assert.deepEqual(
    { ...(await p.readiness.check()) },
    { running: true, redis: true, database: true, stalled: true, ready: false },
  );
  oldest = 0;
  dbOutage.failed(new Error("53100: disk full"));
  assert.deepEqual(
    { ...(await p.readiness.check()) },
    { running: true, redis: true, database: false, stalled: false, ready: false },
  );
  dbOutage.ok();
  assert.equal((await p.readiness.check()).ready, true);
});
