/**
 * docs/coming-from-iotdashboard.md stays true: every name its mapping tables
 * give is one db-writer reads, every name the iotDashboard writers' config
 * reads is mapped there, and the dashboard check's SQL runs against a table
 * of the upstream's shape and returns the stored readings.
 */
import assert from "node:assert/strict";
import { CONFIG_VARIABLES } from "../../src/config/settings.ts";
import { loadConfig } from "../../src/config/load.ts";
import { createWorld } from "../_helpers/world.ts";
import { createUpstreamTables } from "../_helpers/telemetry.ts";

const DOC = await Deno.readTextFile(new URL("../../docs/coming-from-iotdashboard.md", import.meta.url));

/** What the writers' configuration code reads (services/db_write config.py, first and current generation). */
const UPSTREAM_NAMES = [
  "REDIS_HOST",
  "REDIS_PORT",
  "REDIS_DB",
  "REDIS_PASSWORD",
  "DATABASE_URL",
  "DB_HOST",
  "DB_PORT",
  "DB_NAME",
  "DB_USER",
  "DB_PASSWORD",
  "TABLE_NAME",
  "ENABLE_TIMESCALE",
  "CONSUMER_GROUP_NAME",
  "CONSUMER_NAME",
  "BATCH_SIZE",
  "BATCH_TIMEOUT_SEC",
  "PROCESSING_INTERVAL_SEC",
  "BLOCK_TIME_MS",
  "STREAM_PATTERN",
  "DEAD_LETTER_STREAM",
  "MAX_RETRIES",
  "TRIM_MAXLEN",
  "LOG_LEVEL",
  "LOG_FORMAT",
];

/** The environment names in the first column of the page's mapping tables. */
function mappedNames(): Set<string> {
  const names = new Set<string>();
  for (const line of DOC.split("\n")) {
    const first = /^\|([^|]*)\|/.exec(line)?.[1] ?? "";
    for (const m of first.matchAll(/`([A-Z][A-Z0-9_]+)`/g)) names.add(m[1]!);
  }
  return names;
}

Deno.test("every name the old writers read is mapped, to a name db-writer reads", () => {
  const mapped = mappedNames();
  for (const name of UPSTREAM_NAMES) {
    assert.ok(mapped.has(name), `${name} is not in the page's tables`);
    assert.ok(CONFIG_VARIABLES.includes(name), `${name} is not read by db-writer`);
  }
  for (const name of mapped) assert.ok(CONFIG_VARIABLES.includes(name), `the page maps ${name}, which is not read`);
  // Its values as that writer's defaults give them load.
  const env = Object.fromEntries(UPSTREAM_NAMES.map((n) => [n, ""]));
  Object.assign(env, { DB_HOST: "db", DB_NAME: "iot_data", DB_USER: "postgres", DB_PASSWORD: "example" });
  Object.assign(env, { BLOCK_TIME_MS: "5000", MAX_RETRIES: "3", TRIM_MAXLEN: "10000", LOG_LEVEL: "CRITICAL" });
  assert.equal(loadConfig(env).databaseUrl, "postgres://postgres:example@db:5432/iot_data");
});

Deno.test("the dashboard check's queries run against a telemetry table of the upstream's shape", async () => {
  await using world = await createWorld();
  const s = `"${world.schema}"`;
  await createUpstreamTables(world.sql, world.schema, ["esp32-01"]);
  await world.sql.unsafe(`
    INSERT INTO ${s}.telemetry VALUES
      (now() - interval '2 hours', 'esp32-01', 'temperature', 21.5, '°C'),
      (now() - interval '1 hour', 'esp32-01', 'temperature', 22, '°C'),
      (now() - interval '1 hour', 'esp32-01', 'humidity', 40, '%');
  `);
  const section = DOC.slice(DOC.indexOf("## Dashboard check"));
  const queries = [...section.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]!);
  assert.equal(queries.length, 4);
  const results = await world.sql.begin(async (tx) => {
    await tx.unsafe(`SET LOCAL search_path TO ${s}`);
    const out = [];
    for (const q of queries) out.push(await tx.unsafe(q));
    return out;
  });
  const [series, metrics, latest, recent] = results;
  assert.deepEqual(series!.map((r) => [r.value, r.unit]), [[22, "°C"], [21.5, "°C"]]);
  assert.deepEqual(metrics!.map((r) => r.metric).sort(), ["humidity", "temperature"]);
  assert.deepEqual(latest!.map((r) => [r.metric, r.value]).sort(), [["humidity", 40], ["temperature", 22]]);
  assert.equal(recent!.length, 3);
});
