/**
 * Pure tests of outage logging with a fake logger and a fake clock: one line
 * when an outage starts, one when it ends, never one per retry.
 */
import assert from "node:assert/strict";
import type { Logger } from "../../src/log.ts";
import { CAUSE_WAIT_MS, Outage } from "../../src/ops/outage.ts";
import { isBareConnectionLoss } from "../../src/errors.ts";

type Level = "debug" | "info" | "warn" | "error";
interface Line {
  level: Level;
  message: string;
  props: Record<string, unknown> | undefined;
}

function fakeLogger(): Logger & { lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: Level) => (message: string, props?: Record<string, unknown>) => {
    lines.push({ level, message, props });
  };
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

function fakeClock(start = 1_700_000_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

function pgDown(): Error {
  return Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
}

Deno.test("Outage: nothing is logged while all is well", () => {
  const log = fakeLogger();
  const outage = new Outage("postgres", log, fakeClock().now);
  outage.ok();
  outage.ok();
  assert.deepEqual(log.lines, []);
  assert.equal(outage.down, false);
  assert.equal(outage.dependency, "postgres");
});

Deno.test("Outage: one line at the start however many failures, one at recovery with its duration", () => {
  const log = fakeLogger();
  const clock = fakeClock();
  const outage = new Outage("postgres", log, clock.now);

  outage.failed(pgDown());
  assert.equal(outage.down, true);
  for (let i = 0; i < 25; i++) {
    clock.advance(100);
    outage.failed(new Error(`retry ${i}`));
  }
  assert.equal(log.lines.length, 1);
  assert.deepEqual(log.lines[0], {
    level: "error",
    message: "postgres unavailable; retrying until it is back",
    props: { dependency: "postgres", error: "ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:5432" },
  });

  clock.advance(1500); // 25 * 100 + 1500 = 4000 ms since the first failure
  outage.ok();
  assert.equal(outage.down, false);
  assert.equal(log.lines.length, 2);
  assert.deepEqual(log.lines[1], {
    level: "info",
    message: "postgres available again",
    props: { dependency: "postgres", outage_seconds: 4, failed_attempts: 26 },
  });

  outage.ok();
  outage.ok();
  assert.equal(log.lines.length, 2, "no more lines once recovered");
});

Deno.test("Outage: duration rounded to a tenth of a second", async (t) => {
  const cases: [ms: number, seconds: number][] = [[0, 0], [1234, 1.2], [1250, 1.3], [61_049, 61], [99, 0.1]];
  for (const [ms, seconds] of cases) {
    await t.step(`${ms} ms → ${seconds} s`, () => {
      const log = fakeLogger();
      const clock = fakeClock();
      const outage = new Outage("redis", log, clock.now);
      outage.failed(new Error("Connection is closed."));
      clock.advance(ms);
      outage.ok();
      assert.equal(log.lines[1]?.props?.outage_seconds, seconds);
    });
  }
});

Deno.test("Outage: a second outage is logged again, counted from zero", () => {
  const log = fakeLogger();
  const clock = fakeClock();
  const outage = new Outage("redis", log, clock.now);

  outage.failed(new Error("Connection is closed."));
  outage.failed(new Error("Connection is closed."));
  clock.advance(2000);
  outage.ok();

  clock.advance(60_000);
  outage.failed(new Error("LOADING Redis is loading the dataset in memory"));
  assert.equal(outage.down, true);
  clock.advance(500);
  outage.ok();

  assert.deepEqual(
    log.lines.map((l) => [l.level, l.message, l.props?.outage_seconds, l.props?.failed_attempts, l.props?.error]),
    [
      ["error", "redis unavailable; retrying until it is back", undefined, undefined, "Connection is closed."],
      ["info", "redis available again", 2, 2, undefined],
      [
        "error",
        "redis unavailable; retrying until it is back",
        undefined,
        undefined,
        "LOADING Redis is loading the dataset in memory",
      ],
      ["info", "redis available again", 0.5, 1, undefined],
    ],
  );
});

Deno.test("Outage: two dependencies are tracked apart", () => {
  const log = fakeLogger();
  const clock = fakeClock();
  const redis = new Outage("redis", log, clock.now);
  const postgres = new Outage("postgres", log, clock.now);
  postgres.failed(pgDown());
  redis.ok();
  assert.equal(redis.down, false);
  assert.equal(postgres.down, true);
  assert.deepEqual(log.lines.map((l) => l.props?.dependency), ["postgres"]);
});

Deno.test("Outage: a success whose attempt overlapped a failure does not end the outage", () => {
  const log = fakeLogger();
  const clock = fakeClock();
  const outage = new Outage("redis", log, clock.now);
  outage.failed(pgDown());
  clock.advance(100);
  const began = outage.mark();
  clock.advance(50);
  outage.failed(pgDown()); // another connection fails while the read is under way
  clock.advance(50);
  outage.ok(began);
  assert.equal(outage.down, true);
  const later = outage.mark();
  clock.advance(10);
  outage.ok(later);
  assert.equal(outage.down, false);
  assert.deepEqual(log.lines.map((l) => l.message), [
    "redis unavailable; retrying until it is back",
    "redis available again",
  ]);
});

/** A fake {@link Later}: callbacks run when the test says so. */
function fakeLater() {
  const due: { fn: () => void; ms: number; cancelled: boolean }[] = [];
  const later = (fn: () => void, ms: number) => {
    const t = { fn, ms, cancelled: false };
    due.push(t);
    return () => void (t.cancelled = true);
  };
  const fire = () => due.filter((t) => !t.cancelled).forEach((t) => (t.cancelled = true, t.fn()));
  return { later, fire, due };
}

const maxRetries = () =>
  Object.assign(new Error("Reached the max retries per request limit (which is 0)."), {
    name: "MaxRetriesPerRequestError",
  });
const wrongPass = () =>
  Object.assign(new Error("WRONGPASS invalid username-password pair or user is disabled."), {
    name: "ReplyError",
  });

Deno.test("Outage: a dropped connection's line waits for the reconnect's error and names it", () => {
  const log = fakeLogger();
  const clock = fakeClock();
  const timers = fakeLater();
  const outage = new Outage("redis", log, clock.now, timers.later);
  outage.failed(maxRetries());
  assert.equal(outage.down, true, "down at once");
  assert.equal(log.lines.length, 0, "the line waits");
  assert.equal(timers.due[0]?.ms, CAUSE_WAIT_MS);
  outage.failed(new Error("Connection is closed."));
  assert.equal(log.lines.length, 0, "another bare loss is no cause either");
  outage.failed(wrongPass());
  outage.failed(wrongPass());
  timers.fire();
  assert.deepEqual(log.lines.map((l) => l.props?.error), [
    "WRONGPASS invalid username-password pair or user is disabled.",
  ]);
});

Deno.test("Outage: with no cause in time, the dropped connection is the line; a recovery first writes it too", () => {
  for (const end of ["timer", "recovery", "flush"] as const) {
    const log = fakeLogger();
    const clock = fakeClock();
    const timers = fakeLater();
    const outage = new Outage("postgres", log, clock.now, timers.later);
    outage.failed(Object.assign(new Error("write CONNECTION_CLOSED 127.0.0.1:5432"), { code: "CONNECTION_CLOSED" }));
    if (end === "timer") timers.fire();
    if (end === "recovery") outage.ok();
    if (end === "flush") outage.flush();
    outage.flush();
    timers.fire();
    assert.deepEqual(log.lines.map((l) => [l.message, l.props?.error]).slice(0, 1), [
      ["postgres unavailable; retrying until it is back", "CONNECTION_CLOSED: write CONNECTION_CLOSED 127.0.0.1:5432"],
    ], end);
    assert.equal(log.lines.filter((l) => l.level === "error").length, 1, `${end}: written once`);
    if (end === "recovery") assert.equal(log.lines[1]?.message, "postgres available again");
  }
});

Deno.test("isBareConnectionLoss: only errors that say nothing of why", () => {
  assert.equal(isBareConnectionLoss(maxRetries()), true);
  assert.equal(isBareConnectionLoss(new Error("Connection is closed.")), true);
  assert.equal(isBareConnectionLoss(Object.assign(new Error("x"), { code: "CONNECTION_ENDED" })), true);
  assert.equal(isBareConnectionLoss(wrongPass()), false);
  assert.equal(isBareConnectionLoss(pgDown()), false);
  assert.equal(isBareConnectionLoss(Object.assign(new Error("auth"), { code: "28P01" })), false);
  assert.equal(isBareConnectionLoss("Connection is closed"), true);
});

Deno.test("Outage: a success ends the outage only once nothing else is failing", () => {
  const log = fakeLogger();
  const clock = fakeClock();
  const outage = new Outage("redis", log, clock.now);
  const noPerm = Object.assign(new Error("NOPERM this user has no permissions to run the 'xreadgroup' command"), {
    name: "ReplyError",
  });
  outage.failed(noPerm, "read");
  clock.advance(10);
  outage.ok(undefined, "ack"); // an ack still passes: reading is refused all the same
  outage.ok(outage.mark(), "ack");
  assert.equal(outage.down, true);
  clock.advance(10);
  outage.failed(pgDown()); // the connection drops too
  clock.advance(10);
  const began = outage.mark();
  clock.advance(10);
  outage.ok(began, "read"); // proves reading and the connection
  assert.equal(outage.down, false);
  assert.deepEqual(log.lines.map((l) => [l.message, l.props?.failed_attempts]), [
    ["redis unavailable; retrying until it is back", undefined],
    ["redis available again", 2],
  ]);
});
