import assert from "node:assert/strict";
import { heapWarning, worstCaseInFlightBytes } from "../src/ops/memory.ts";
import { loadConfig } from "../src/config/load.ts";
import { spawnService } from "./helpers.ts";

const MB = 1_048_576;

Deno.test("memory budget: the defaults fit the heap the start task sets; larger batches are warned about", () => {
  const defaults = loadConfig({}, { hostname: "h", pid: 1 });
  // 3 batches × 500 entries × 64 KiB × 2 copies
  assert.equal(worstCaseInFlightBytes(defaults), 3 * 500 * 65_536 * 2);
  assert.equal(heapWarning(defaults, 268 * MB), undefined);
  const big = { ...defaults, batchSize: 2000 };
  const w = heapWarning(big, 268 * MB);
  assert.match(w ?? "", /up to 750 MB, more than the heap limit of 268 MB/);
  assert.match(w ?? "", /lower BATCH_SIZE or MAX_MESSAGE_BYTES, or raise --max-old-space-size/);
  assert.equal(heapWarning({ ...big, maxMessageBytes: 16_384 }, 268 * MB), undefined);
});

Deno.test("memory budget: run with the start task's flags warns at start-up when BATCH_SIZE is too large for the heap", async () => {
  // Nothing listens on port 1: the service logs its start-up lines, then retries until stopped.
  await using svc = spawnService(["run"], {
    BATCH_SIZE: "5000",
    REDIS_PORT: "1",
    DATABASE_URL: "postgres://postgres@127.0.0.1:1/postgres",
    HTTP_PORT: "0",
    SHUTDOWN_TIMEOUT_SEC: "1",
    MIGRATE_ON_START: "false",
  });
  // 256 MB of old space and 3 × 16 MB of young generation (service.flags).
  const warning = await svc.waitForLog((r) =>
    r.message === "memory: the largest batches allowed may not fit in the heap"
  );
  assert.match(String(warning.problem), /more than the heap limit of 3\d\d MB/, "the start task's heap bound applies");
  svc.kill("SIGTERM");
  await svc.status;
});
