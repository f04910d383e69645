/**
 * Taking over from the first iotDashboard writer on a database whose
 * `timezone` is not UTC. That writer handed naive timestamps to PostgreSQL,
 * which read them in the session's time zone: its rows sit hours away from
 * the UTC instant db-writer reads from the same entry. Its entries are still
 * pending (it never acknowledged), so they come back to db-writer, which
 * must find those rows under both readings of a naive time and store nothing
 * twice. Runs on a database of its own (ALTER DATABASE … SET timezone), never
 * touching the shared ones.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { addEntries, minPendingIdleMs, pendingCount } from "../_helpers/streams.ts";
import { DATABASE_URL, REDIS_URL } from "../_helpers/services.ts";
import { testRedis, testSql, uniqueName } from "../_helpers/world.ts";
import { spawnService, stopService } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { createPreviousServiceTable } from "../_helpers/rows.ts";

const ZONE = "Europe/Skopje"; // +01:00 in winter, +02:00 in summer

/** A database of the test's own with `timezone` set; dropped afterwards. */
async function zonedDatabase(zone: string): Promise<{ url: string } & AsyncDisposable> {
  const name = uniqueName("tz");
  await using admin = testSql();
  await admin.unsafe(`CREATE DATABASE "${name}"`);
  await admin.unsafe(`ALTER DATABASE "${name}" SET timezone TO '${zone}'`);
  const url = new URL(DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async [Symbol.asyncDispose]() {
      await using admin = testSql();
      await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    },
  };
}

/** Naive ISO times like Python's `datetime.utcnow().isoformat()`, in winter and in summer. */
function naiveTimes(n: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    const month = i % 2 === 0 ? "01" : "07";
    const minute = String(Math.floor(i / 2) % 60).padStart(2, "0");
    const hour = String(8 + Math.floor(i / 120)).padStart(2, "0");
    return `2026-${month}-15T${hour}:${minute}:00.${String(i).padStart(6, "0")}`;
  });
}

Deno.test("first-generation rows on a non-UTC database are matched under both readings: 100 entries stay 100 rows", async () => {
  await using db = await zonedDatabase(ZONE);
  await using redis = testRedis();
  const prefix = uniqueName("s");
  const group = uniqueName("g");
  const stream = `${prefix}:esp32:temperature`;
  const table = "public.sensor_readings";
  try {
    await using old = Object.assign(postgres(db.url, { max: 1, onnotice: () => {} }), {
      async [Symbol.asyncDispose]() {
        await old.end({ timeout: 5 });
      },
    });
    const [show] = await old.unsafe(`SHOW TimeZone`);
    assert.equal(show?.TimeZone, ZONE, "the database's own time zone reaches its sessions");
    await createPreviousServiceTable({ sql: old, table });

    // 100 entries the old writer read and stored (naive times, as the upstream ingestion writes them),
    // one it read but died before storing, and one with an explicit offset it did not store either,
    // whose time read as local (wrongly: it has an offset) is where a stored row with its value lies.
    const stored = naiveTimes(100).map((timestamp, i) => ({ value: String(20 + (i % 7)), timestamp }));
    const notStoredNaive = { value: "99.5", timestamp: "2026-01-15T12:00:00" };
    const notStoredAware = { value: stored[0]!.value, timestamp: "2026-01-15T08:00:00Z" };
    await redis.xgroup("CREATE", stream, group, "0", "MKSTREAM");
    const ids = await addEntries(redis, stream, [...stored, notStoredNaive, notStoredAware]);
    await redis.xreadgroup("GROUP", group, "python-old", "COUNT", 1000, "STREAMS", stream, ">");
    // What the old writer did: a naive datetime into a TIMESTAMPTZ column, read in the session's zone.
    await old.unsafe(
      `INSERT INTO ${table} (timestamp, device_id, sensor_type, value)
       SELECT t::timestamp, 'esp32', 'temperature', v FROM unnest($1::text[], $2::float8[]) AS u(t, v)`,
      [stored.map((e) => e.timestamp), stored.map((e) => Number(e.value))],
    );
    const [earliest] = await old.unsafe(`SELECT min(timestamp) AS first FROM ${table}`);
    assert.equal(
      (earliest?.first as Date).toISOString(),
      "2026-01-15T07:00:00.000Z",
      "stored an hour before the UTC reading",
    );

    // Idle for longer than CLAIM_MIN_IDLE_MS, so the new service claims them on its first sweep.
    await waitFor(async () => (await minPendingIdleMs(redis, stream, group)) > 300, {
      what: "the old writer's entries idle",
    });
    await using svc = spawnService(["run"], {
      REDIS_URL,
      DATABASE_URL: db.url,
      STREAM_PATTERN: `${prefix}:*`,
      DEAD_LETTER_STREAM: `${prefix}_failed`,
      TABLE_NAME: table,
      CONSUMER_GROUP_NAME: group,
      BATCH_TIMEOUT_SEC: "0.2",
      DISCOVERY_INTERVAL_SEC: "0.2",
      CLAIM_MIN_IDLE_MS: "200",
      HTTP_PORT: "0",
      LOG_FORMAT: "json",
    });
    await waitFor(async () => (await pendingCount(redis, stream, group)) === 0, {
      timeoutMs: 30_000,
      what: "nothing pending",
    });
    assert.equal(await stopService(svc), 0);

    await using check = Object.assign(postgres(db.url, { max: 1, onnotice: () => {} }), {
      async [Symbol.asyncDispose]() {
        await check.end({ timeout: 5 });
      },
    });
    const rows = await check.unsafe(`SELECT source_id, value, timestamp FROM ${table} ORDER BY id`);
    assert.equal(rows.length, 102, `100 legacy rows and the 2 unstored entries, got ${rows.length}`);
    assert.equal(rows.filter((r) => r.source_id === null).length, 100);
    const added = rows.filter((r) => r.source_id !== null);
    assert.deepEqual(
      added.map((r) => [r.source_id, r.value, (r.timestamp as Date).toISOString()]).sort(),
      [
        [ids[100], 99.5, "2026-01-15T12:00:00.000Z"],
        [ids[101], Number(stored[0]!.value), "2026-01-15T08:00:00.000Z"],
      ].sort(),
    );
    assert.equal(await redis.xlen(`${prefix}_failed`), 0, "nothing dead-lettered");
  } finally {
    await redis.del(stream, `${prefix}_failed`);
  }
});
