/**
 * The loop's delivery rules with fakes of its three ports (source, sink,
 * dead letters): ack only after commit, outages retried without dead letters,
 * poison and bad rows dead-lettered, drain on stop, deadline leaves pending.
 */
import assert from "node:assert/strict";
import { Pipeline, type PipelineDeps } from "../../src/pipeline.ts";
import type { Delivery, Source } from "../../src/ports.ts";
import type { DeadLetter } from "../../src/ports.ts";
import type { Sink, WriteOutcome } from "../../src/ports.ts";
import { entryKey, type Reading, type StreamEntry } from "../../src/ports.ts";
import type { Logger } from "../../src/log.ts";
import { Outage } from "../../src/ops/outage.ts";
import { Stats } from "../../src/ops/stats.ts";

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function entry(n: number, fields: Record<string, string> = {}, deliveries = 1): Delivery {
  return {
    stream: "mqtt_stream:dev:temp",
    id: `${1000 + n}-0`,
    fields: { value: String(n), timestamp: "2026-11-28T10:00:00Z", ...fields },
    deliveries,
  };
}

/** A source that hands out scripted batches, then nothing; records every ack. */
class FakeSource implements Source {
  acked: StreamEntry[] = [];
  log: string[] = [];
  constructor(private batches: Delivery[][], private onEmpty?: () => void) {}
  read(signal: AbortSignal): Promise<Delivery[]> {
    const next = this.batches.shift();
    if (next) return Promise.resolve(next);
    this.onEmpty?.();
    return new Promise((resolve) => {
      if (signal.aborted) resolve([]);
      signal.addEventListener("abort", () => resolve([]), { once: true });
      setTimeout(() => resolve([]), 5);
    });
  }
  ack(entries: readonly StreamEntry[]): Promise<void> {
    this.log.push(`ack ${entries.map((e) => e.id).join(",")}`);
    this.acked.push(...entries);
    return Promise.resolve();
  }
}

class FakeSink implements Sink {
  rows = new Map<string, Reading>();
  failures: unknown[] = [];
  calls = 0;
  constructor(private events: string[], private script?: (readings: readonly Reading[]) => WriteOutcome | undefined) {}
  stored(entries: readonly { stream: string; id: string }[]): Promise<Set<string>> {
    const found = entries.filter((e) => this.rows.has(`${e.stream} ${e.id}`));
    return Promise.resolve(new Set(found.map(entryKey)));
  }
  write(readings: readonly Reading[]): Promise<WriteOutcome> {
    this.calls++;
    const failure = this.failures.shift();
    if (failure) return Promise.reject(failure);
    const scripted = this.script?.(readings);
    if (scripted) return Promise.resolve(scripted);
    let inserted = 0;
    for (const r of readings) {
      const k = `${r.sourceStream} ${r.sourceId}`;
      if (!this.rows.has(k)) inserted++;
      this.rows.set(k, r);
    }
    this.events.push(`commit ${readings.map((r) => r.sourceId).join(",")}`);
    return Promise.resolve({ inserted, duplicates: readings.length - inserted, rejected: [], deferred: [] });
  }
}

class FakeDeadLetters {
  letters: DeadLetter[] = [];
  send(letters: readonly DeadLetter[]): Promise<boolean[]> {
    this.letters.push(...letters);
    return Promise.resolve(letters.map(() => true));
  }
}

function deps(source: FakeSource, sink: Sink, dead: FakeDeadLetters, extra: Partial<PipelineDeps> = {}) {
  return {
    source,
    sink,
    deadLetters: dead,
    log: quiet,
    stats: new Stats(),
    redisOutage: new Outage("redis", quiet),
    dbOutage: new Outage("postgres", quiet),
    maxDeliveries: 5,
    backoff: { initialMs: 1, maxMs: 2 },
    writeTimeoutMs: 20_000,
    processingIntervalMs: 0,
    writers: 1,
    ...extra,
  } satisfies PipelineDeps;
}

Deno.test("acks a batch only after its rows are committed", async () => {
  const events: string[] = [];
  const source = new FakeSource([[entry(1), entry(2)]]);
  source.log = events;
  const sink = new FakeSink(events);
  const p = new Pipeline(deps(source, sink, new FakeDeadLetters()));
  const hard = new AbortController();
  assert.equal(await p.processBatch([entry(1), entry(2)], hard.signal), 0);
  assert.deepEqual(events, ["commit 1001-0,1002-0", "ack 1001-0,1002-0"]);
});

Deno.test("a database outage is retried: nothing dead-lettered, nothing acked until the commit", async () => {
  const events: string[] = [];
  const source = new FakeSource([]);
  source.log = events;
  const sink = new FakeSink(events);
  const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
  const shutdown = Object.assign(new Error("terminating connection due to administrator command"), {
    name: "PostgresError",
    code: "57P01",
  });
  sink.failures.push(refused, shutdown, refused);
  const dead = new FakeDeadLetters();
  const d = deps(source, sink, dead);
  const p = new Pipeline(d);
  assert.equal(await p.processBatch([entry(1)], new AbortController().signal), 0);
  assert.equal(sink.calls, 4);
  assert.equal(dead.letters.length, 0);
  assert.deepEqual(events, ["commit 1001-0", "ack 1001-0"]);
  assert.equal(d.dbOutage.down, false, "recovered after the commit");
});

Deno.test("the shutdown deadline leaves a failing batch pending instead of dead-lettering it", async () => {
  const source = new FakeSource([]);
  const sink = new FakeSink([]);
  for (let i = 0; i < 1000; i++) sink.failures.push(Object.assign(new Error("down"), { code: "ECONNREFUSED" }));
  const dead = new FakeDeadLetters();
  const p = new Pipeline(deps(source, sink, dead));
  const hard = AbortSignal.timeout(30);
  assert.equal(await p.processBatch([entry(1), entry(2)], hard), 2);
  assert.equal(source.acked.length, 0);
  assert.equal(dead.letters.length, 0);
});

Deno.test("bad messages are dead-lettered with a reason, good neighbours are stored and acked", async () => {
  const source = new FakeSource([]);
  const sink = new FakeSink([]);
  const dead = new FakeDeadLetters();
  const p = new Pipeline(deps(source, sink, dead));
  await p.processBatch(
    [entry(1), entry(2, { value: "abc" }), entry(3, { timestamp: "yesterday" })],
    new AbortController().signal,
  );
  assert.deepEqual([...sink.rows.keys()], ["mqtt_stream:dev:temp 1001-0"]);
  assert.deepEqual(source.acked.map((e) => e.id), ["1001-0"]);
  assert.deepEqual(dead.letters.map((l) => l.entry.id), ["1002-0", "1003-0"]);
  assert.match(dead.letters[0]!.reason, /value "abc" is not a finite decimal number/);
  assert.match(dead.letters[1]!.reason, /timestamp "yesterday" is not a valid ISO 8601/);
});

Deno.test("rows the database refuses are dead-lettered with its message; deferred rows stay pending", async () => {
  const source = new FakeSource([]);
  const sink = new FakeSink([], (readings) =>
    readings.length < 3 ? undefined : ({
      inserted: readings.length - 2,
      duplicates: 0,
      rejected: [{ reading: readings[0]!, reason: "database refused the row: 23514: check" }],
      deferred: [{ reading: readings[1]!, error: "P0001: boom" }],
    }));
  const dead = new FakeDeadLetters();
  const p = new Pipeline(deps(source, sink, dead, { maxDeliveries: 2 }));
  const signal = new AbortController().signal;
  await p.processBatch([entry(1), entry(2), entry(3)], signal);
  assert.deepEqual(source.acked.map((e) => e.id), ["1003-0"]);
  assert.deepEqual(dead.letters.map((l) => [l.entry.id, l.reason]), [[
    "1001-0",
    "database refused the row: 23514: check",
  ]]);

  // The deferred entry comes back (redelivered) past MAX_DELIVERIES: dead-lettered with the last error.
  await p.processBatch([entry(2, {}, 3)], signal);
  assert.equal(dead.letters.length, 2);
  assert.match(
    dead.letters[1]!.reason,
    /delivered 3 times without being stored \(MAX_DELIVERIES=2\); last error: P0001: boom/,
  );
});

Deno.test("an entry delivered more than MAX_DELIVERIES times is dead-lettered without being written", async () => {
  const source = new FakeSource([]);
  const sink = new FakeSink([]);
  const dead = new FakeDeadLetters();
  const p = new Pipeline(deps(source, sink, dead, { maxDeliveries: 5 }));
  await p.processBatch([entry(1, {}, 5), entry(2, {}, 6)], new AbortController().signal);
  assert.deepEqual([...sink.rows.keys()], ["mqtt_stream:dev:temp 1001-0"]);
  assert.deepEqual(dead.letters.map((l) => l.entry.id), ["1002-0"]);
  assert.match(dead.letters[0]!.reason, /delivered 6 times/);
});

Deno.test("stop: the batch in hand and the one already read are finished, then run() returns", async () => {
  const stop = new AbortController();
  const source = new FakeSource([[entry(1)], [entry(2)]], () => stop.abort());
  const sink = new FakeSink([]);
  const p = new Pipeline(deps(source, sink, new FakeDeadLetters()));
  const result = await p.run(stop.signal, new AbortController().signal);
  assert.deepEqual(result, { leftPending: 0 });
  assert.deepEqual(source.acked.map((e) => e.id), ["1001-0", "1002-0"]);
  assert.equal(p.running, false);
});

Deno.test("a read error is retried and never stops the loop", async () => {
  const stop = new AbortController();
  let calls = 0;
  const source = new FakeSource([]);
  source.read = (signal) => {
    calls++;
    if (calls === 1) return Promise.reject(Object.assign(new Error("Connection is closed."), {}));
    if (calls === 2) return Promise.resolve([entry(7)]);
    stop.abort();
    return Promise.resolve(signal.aborted ? [] : []);
  };
  const sink = new FakeSink([]);
  const d = deps(source, sink, new FakeDeadLetters());
  await new Pipeline(d).run(stop.signal, new AbortController().signal);
  assert.deepEqual(source.acked.map((e) => e.id), ["1007-0"]);
  assert.equal(d.stats.errors, 1);
  assert.equal(d.redisOutage.down, false);
});

Deno.test("past MAX_DELIVERIES, an entry whose row is already stored is acked, not dead-lettered", async () => {
  const source = new FakeSource([]);
  const sink = new FakeSink([]);
  const dead = new FakeDeadLetters();
  const p = new Pipeline(deps(source, sink, dead, { maxDeliveries: 5 }));
  const signal = new AbortController().signal;
  await p.processBatch([entry(1)], signal); // stored, then (say) killed before the ack took effect
  source.acked = [];
  await p.processBatch([entry(1, {}, 9), entry(2, {}, 9)], signal);
  assert.deepEqual(source.acked.map((e) => e.id), ["1001-0"]);
  assert.deepEqual(dead.letters.map((l) => l.entry.id), ["1002-0"]);
  assert.equal(sink.rows.size, 1);
});

Deno.test("with two writers, two batches are written at once, and stop still drains both", async () => {
  const stop = new AbortController();
  const source = new FakeSource([[entry(1)], [entry(2)], [entry(3)]], () => stop.abort());
  const events: string[] = [];
  let open = 0, most = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const fallback = setTimeout(() => release(), 2000); // with one writer the gate would never open
  const inner = new FakeSink(events);
  const sink: Sink = {
    stored: (e) => inner.stored(e),
    async write(readings) {
      open++;
      most = Math.max(most, open);
      if (open === 2) release();
      await gate;
      open--;
      return inner.write(readings);
    },
  };
  const p = new Pipeline(deps(source, sink, new FakeDeadLetters(), { writers: 2 }));
  const result = await p.run(stop.signal, new AbortController().signal);
  clearTimeout(fallback);
  assert.equal(most, 2);
  assert.deepEqual(result, { leftPending: 0 });
  assert.deepEqual(source.acked.map((e) => e.id).sort(), ["1001-0", "1002-0", "1003-0"]);
});
