/** The backlog window's choice of streams and COUNT (pure). */
import assert from "node:assert/strict";
import { backlogWindow } from "../../src/source/window.ts";

const streams = (n: number) => Array.from({ length: n }, (_, i) => `s${i}`);

Deno.test("backlog window: BATCH_SIZE / 50 streams (at most 40), COUNT filling one batch, never more", () => {
  // [BATCH_SIZE, streams, window streams, COUNT]
  const cases: [number, number, number, number][] = [
    [500, 400, 10, 50],
    [100, 400, 2, 50],
    [2000, 400, 40, 50],
    [5000, 400, 40, 125],
    [30, 400, 1, 30],
    [500, 1, 1, 500],
    [500, 4, 4, 125],
  ];
  for (const [batch, n, size, count] of cases) {
    const w = backlogWindow(streams(n), 0, batch);
    assert.equal(w.streams.length, size, `BATCH_SIZE ${batch}, ${n} streams`);
    assert.equal(w.count, count, `BATCH_SIZE ${batch}, ${n} streams`);
    assert.ok(w.streams.length * w.count <= batch);
  }
});

Deno.test("backlog window: rotates over every stream, wrapping round", () => {
  const all = streams(25);
  const seen: string[] = [];
  let from = 0;
  for (let i = 0; i < 5; i++) {
    const w = backlogWindow(all, from, 500); // 10 streams a window
    seen.push(...w.streams);
    from = w.next;
  }
  assert.deepEqual(seen.slice(0, 25), all);
  assert.deepEqual(seen.slice(20, 30), [...all.slice(20), ...all.slice(0, 5)]);
  assert.equal(new Set(backlogWindow(all, 20, 500).streams).size, 10, "no stream twice in one window");
});
