import assert from "node:assert/strict";
import { AUTO_BATCH_BYTES_CAP, batchByteBudget, heapWarning, worstCaseInFlightBytes } from "../../src/ops/memory.ts";
import { loadConfig } from "../../src/config/load.ts";
import { spawnService } from "../_helpers/process.ts";

const MB = 1_048_576;

Deno.test("memory budget: batches bounded by bytes fit the heap whatever BATCH_SIZE; a BATCH_MAX_BYTES too large is warned about", () => {
  const defaults = loadConfig({}, { hostname: "h", pid: 1 });
  // BATCH_MAX_BYTES=0: an eighth of the heap per batch in hand, so 3 batches held twice take 3/4 of it at most.
  assert.equal(batchByteBudget(defaults, 268 * MB), Math.floor(268 * MB / 24));
  assert.equal(batchByteBudget(defaults, 4096 * MB), AUTO_BATCH_BYTES_CAP);
  assert.ok(worstCaseInFlightBytes(defaults, 268 * MB) <= 268 * MB);
  for (const batchSize of [500, 2000, 100_000]) {
    assert.equal(heapWarning({ ...defaults, batchSize }, 268 * MB), undefined, `BATCH_SIZE=${batchSize}`);
  }
  // Small entries: BATCH_SIZE × MAX_MESSAGE_BYTES is the bound when it is the smaller.
  assert.equal(worstCaseInFlightBytes({ ...defaults, batchSize: 10 }, 268 * MB), 3 * 10 * 65_536 * 2);
  const w = heapWarning({ ...defaults, batchSize: 2000, batchMaxBytes: 500 * MB }, 268 * MB);
  assert.match(w ?? "", /up to 750 MB, more than the heap limit of 268 MB/);
  assert.match(w ?? "", /lower BATCH_MAX_BYTES \(0 derives it from the heap\), or raise --max-old-space-size/);
});

Deno.test("memory budget: run with the start task's flags warns at start-up when BATCH_SIZE is too large for the heap", async () => {
  // Nothing listens on port 1: the service logs its start-up lines, then retries until stopped.
  await using svc = spawnService(["run"], {
    BATCH_SIZE: "5000",
    BATCH_MAX_BYTES: "524288000",
    REDIS_PORT: "1",
    DATABASE_URL: "postgres://postgres@127.0.0.1:1/test",
    HTTP_PORT: "0",
    SHUTDOWN_TIMEOUT_SEC: "1",
    MIGRATE_ON_START: "false",
  });
  const warning = await svc.waitForLog((r) =>
    r.message === "memory: the largest batches allowed may not fit in the heap"
  );
  assert.match(String(warning.problem), /more than the heap limit of 3\d\d MB/, "the start task's heap bound applies");
  svc.kill("SIGTERM");
  await svc.status;
});
