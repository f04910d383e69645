/**
 * Pure tests of the signal latch with a fake clock: one Ctrl-C that arrives
 * as several copies means "shut down"; a deliberate second one means "now".
 */
import assert from "node:assert/strict";
import { SignalLatch } from "../../src/shutdown.ts";

function fakeClock(start = 1_000_000) {
  let now = start;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

Deno.test("SignalLatch: first signal shuts down", () => {
  const clock = fakeClock();
  assert.equal(new SignalLatch(1000, clock.now).receive(), "shutdown");
});

Deno.test("SignalLatch: copies within the window are ignored, later signals hard-exit", async (t) => {
  const cases: [name: string, gapsMs: number[], want: string[]][] = [
    ["one signal", [], ["shutdown"]],
    ["copy at the same instant", [0], ["shutdown", "ignore"]],
    ["three copies within the window", [0, 10, 500], ["shutdown", "ignore", "ignore", "ignore"]],
    ["just inside the window", [999], ["shutdown", "ignore"]],
    ["at the end of the window", [1000], ["shutdown", "hard-exit"]],
    ["well after", [5000], ["shutdown", "hard-exit"]],
    ["copy, then a deliberate second", [100, 2000], ["shutdown", "ignore", "hard-exit"]],
    ["hard-exit stays hard-exit", [1500, 0, 10], ["shutdown", "hard-exit", "hard-exit", "hard-exit"]],
    // the window is measured from the first signal, not the latest copy
    ["window measured from the first signal", [600, 600], ["shutdown", "ignore", "hard-exit"]],
  ];
  for (const [name, gaps, want] of cases) {
    await t.step(name, () => {
      const clock = fakeClock();
      const latch = new SignalLatch(1000, clock.now);
      const got = [latch.receive()];
      for (const gap of gaps) {
        clock.advance(gap);
        got.push(latch.receive());
      }
      assert.deepEqual(got, want);
    });
  }
});

Deno.test("SignalLatch: the window length is the one given", () => {
  const clock = fakeClock();
  const latch = new SignalLatch(50, clock.now);
  assert.equal(latch.receive(), "shutdown");
  clock.advance(49);
  assert.equal(latch.receive(), "ignore");
  clock.advance(1);
  assert.equal(latch.receive(), "hard-exit");
});

Deno.test("SignalLatch: a zero window makes every later signal a hard exit", () => {
  const clock = fakeClock();
  const latch = new SignalLatch(0, clock.now);
  assert.equal(latch.receive(), "shutdown");
  assert.equal(latch.receive(), "hard-exit");
});

Deno.test("SignalLatch: two latches are independent", () => {
  const clock = fakeClock();
  const a = new SignalLatch(1000, clock.now);
  const b = new SignalLatch(1000, clock.now);
  assert.equal(a.receive(), "shutdown");
  clock.advance(2000);
  assert.equal(b.receive(), "shutdown");
  assert.equal(a.receive(), "hard-exit");
});

Deno.test("SignalLatch: the real clock by default", () => {
  const latch = new SignalLatch(60_000);
  assert.equal(latch.receive(), "shutdown");
  assert.equal(latch.receive(), "ignore");
});
