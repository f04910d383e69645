/**
 * Pure tests of the metrics pieces: histogram, the decoder's reason classes,
 * the exposition text, the summary line.
 */
import assert from "node:assert/strict";
import { Histogram } from "../../src/ops/histogram.ts";
import { REASON_CLASSES } from "../../src/ports.ts";
import { decode } from "../../src/decode/decode.ts";
import { escapeLabel, MAX_LAG_SERIES, renderMetrics } from "../../src/ops/metrics.ts";
import { shownRate, Stats, StatsReporter } from "../../src/ops/stats.ts";
import { groupLag } from "../../src/ops/lag_reply.ts";

Deno.test("Histogram counts cumulatively per bound, with +Inf, sum and count", () => {
  const h = new Histogram([1, 5, 10]);
  for (const v of [0.5, 1, 3, 7, 20]) h.observe(v);
  assert.deepEqual(h.cumulative(), [
    { le: "1", count: 2 },
    { le: "5", count: 3 },
    { le: "10", count: 4 },
    { le: "+Inf", count: 5 },
  ]);
  assert.equal(h.sum, 31.5);
  assert.equal(h.count, 5);
  assert.throws(() => new Histogram([]), /non-empty increasing/);
  assert.throws(() => new Histogram([1, 1]), /non-empty increasing/);
});

function rejectionClass(stream: string, fields: Record<string, string>): string {
  const d = decode({ stream, id: "1-0", fields });
  assert.equal(d.ok, false, `expected ${JSON.stringify(fields)} to be rejected`);
  return (d as { class: string }).class;
}

Deno.test("the decoder gives every rejection one bounded class", async (t) => {
  const ts = "2026-11-28T10:00:00Z";
  const cases: [string, string, Record<string, string>][] = [
    ["missing_field", "mqtt:ingestion", { value: "1", timestamp: ts }],
    ["missing_field", "s:dev:temp", { timestamp: ts }],
    ["missing_field", "s:dev:temp", { value: "1" }],
    ["bad_identifier", "s:dev:temp", { device_id: "x".repeat(101), value: "1", timestamp: ts }],
    ["bad_identifier", "s:dev:temp", { sensor_type: "a\u0000b", value: "1", timestamp: ts }],
    ["bad_value", "s:dev:temp", { value: "abc", timestamp: ts }],
    ["bad_value", "s:dev:temp", { value: "1e999", timestamp: ts }],
    ["bad_timestamp", "s:dev:temp", { value: "1", timestamp: "yesterday" }],
    ["invalid_json", "s:dev:temp", { value: "1", timestamp: ts, metadata: "{x:1}" }],
    ["bad_metadata", "s:dev:temp", { value: "1", timestamp: ts, metadata: "[1]" }],
    ["bad_metadata", "s:dev:temp", { value: "1", timestamp: ts, metadata: '{"a":"\\u0000"}' }],
    ["bad_metadata", "s:dev:temp", { value: "1", timestamp: ts, metadata: "[".repeat(40) + "]".repeat(40) }],
    ["too_large", "s:dev:temp", { value: "1", timestamp: ts, note: "x".repeat(70_000) }],
    ["too_large", "s:dev:temp", { value: "1", timestamp: ts, metadata: `{"a":"${"x".repeat(20_000)}"}` }],
    ["bad_encoding", "s:dev:temp", { value: "1", timestamp: ts, unit: "a\u0000b" }],
    ["bad_encoding", "s:dev:temp", { value: "1", timestamp: ts, metadata: '{"a":"\uFFFD"}' }],
    ["bad_encoding", "s:dev\uFFFD:temp", { value: "1", timestamp: ts }],
  ];
  for (const [cls, stream, fields] of cases) {
    await t.step(`${cls}: ${JSON.stringify(fields).slice(0, 60)}`, () => {
      assert.equal(rejectionClass(stream, fields), cls);
    });
  }
  await t.step("every class is listed", () => {
    for (const [cls] of cases) assert.ok((REASON_CLASSES as readonly string[]).includes(cls));
  });
});

Deno.test("renderMetrics: counters, reasons, histograms, lag per stream, memory", () => {
  const stats = new Stats(() => 1_000_000);
  stats.messagesRead = 12;
  stats.rowsWritten = 10;
  stats.countDeadLetters(["bad_value", "missing_field"], [true, true]);
  stats.batchSizes.observe(7);
  stats.writeSeconds.observe(0.02);
  stats.redisReconnects = 3;
  const text = renderMetrics(stats, {
    running: true,
    redis: true,
    database: false,
    now: 1_010_000,
    outages: { redis: 1, database: 2 },
    memory: { rss: 1000, heapUsed: 200, heapTotal: 300 },
    lag: {
      lag: 5,
      pending: 4,
      at: 1_009_000,
      streams: [
        { stream: 'a:"b"', lag: 5, pending: 1 },
        { stream: "c", lag: null, pending: 3 },
      ],
    },
  });
  for (
    const line of [
      "db_writer_messages_read_total 12",
      "db_writer_rows_written_total 10",
      "db_writer_dead_letters_total 2",
      'db_writer_dead_letters_by_reason_total{reason="bad_value"} 1',
      'db_writer_dead_letters_by_reason_total{reason="missing_field"} 1',
      'db_writer_dead_letters_by_reason_total{reason="rejected_by_database"} 0',
      "# TYPE db_writer_batch_size histogram",
      'db_writer_batch_size_bucket{le="5"} 0',
      'db_writer_batch_size_bucket{le="10"} 1',
      'db_writer_batch_size_bucket{le="+Inf"} 1',
      "db_writer_batch_size_sum 7",
      "db_writer_batch_size_count 1",
      'db_writer_write_duration_seconds_bucket{le="0.025"} 1',
      "db_writer_redis_reconnects_total 3",
      'db_writer_outages_total{dependency="postgres"} 2',
      "db_writer_consumer_lag 5",
      "db_writer_pending_entries 4",
      'db_writer_stream_lag{stream="a:\\"b\\""} 5',
      'db_writer_stream_pending{stream="c"} 3',
      "db_writer_streams 2",
      "db_writer_lag_refreshed_timestamp_seconds 1009",
      "db_writer_database_up 0",
      "db_writer_uptime_seconds 10",
      "process_resident_memory_bytes 1000",
    ]
  ) {
    assert.ok(text.split("\n").includes(line), `missing line ${line} in:\n${text}`);
  }
  // A stream whose lag Redis cannot tell has no lag series.
  assert.doesNotMatch(text, /db_writer_stream_lag\{stream="c"\}/);
  // Every sample belongs to a family declared just before it.
  let family = "";
  for (const line of text.trimEnd().split("\n")) {
    const type = /^# TYPE (\S+) (counter|gauge|histogram)$/.exec(line);
    if (type) family = type[1]!;
    else if (!line.startsWith("#")) assert.ok(line.startsWith(family), `${line} outside its family ${family}`);
  }
});

Deno.test("renderMetrics caps the per-stream series; totals still cover every stream", () => {
  const streams = Array.from({ length: MAX_LAG_SERIES + 10 }, (_, i) => ({ stream: `s${i}`, lag: i, pending: 0 }));
  const text = renderMetrics(new Stats(), {
    running: true,
    redis: true,
    database: true,
    lag: { lag: 1, pending: 0, at: 0, streams },
  });
  assert.equal(text.match(/^db_writer_stream_lag\{/gm)?.length, MAX_LAG_SERIES);
  assert.match(text, new RegExp(`^db_writer_stream_lag\\{stream="s${MAX_LAG_SERIES + 9}"\\}`, "m"));
  assert.doesNotMatch(text, /^db_writer_stream_lag\{stream="s0"\}/m);
  assert.match(text, new RegExp(`^db_writer_streams ${MAX_LAG_SERIES + 10}$`, "m"));
});

Deno.test("countDeadLetters: when only some were new, only those are counted, by their own reason", () => {
  const stats = new Stats();
  stats.countDeadLetters(["missing_field", "bad_timestamp"], [false, true]);
  assert.equal(stats.deadLettered, 1);
  assert.deepEqual([...stats.deadLetteredByClass], [["bad_timestamp", 1]]);
});

Deno.test("escapeLabel escapes backslash, quote and newline", () => {
  assert.equal(escapeLabel('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
});

Deno.test("groupLag reads lag and pending of one group from an XINFO GROUPS reply", () => {
  const reply = [
    ["name", "other", "consumers", 0, "pending", 9, "last-delivered-id", "0-0", "entries-read", null, "lag", 3],
    ["name", "g", "consumers", 1, "pending", 2, "last-delivered-id", "1-0", "entries-read", 4, "lag", 6],
  ];
  assert.deepEqual(groupLag(reply, "g"), { lag: 6, pending: 2 });
  assert.deepEqual(groupLag([["name", "g", "pending", 0, "lag", null]], "g"), { lag: null, pending: 0 });
  assert.equal(groupLag(reply, "missing"), undefined);
  assert.equal(groupLag("nope", "g"), undefined);
});

Deno.test("the summary line carries rows/s, lag, pending, dead letters and retries", async (t) => {
  let now = 0;
  const stats = new Stats(() => now);
  const lines: [string, Record<string, unknown> | undefined][] = [];
  let lag: { lag: number | null; pending: number } | undefined = { lag: 0, pending: 0 };
  const reporter = new StatsReporter(stats, { info: (m, p) => lines.push([m, p]) }, () => now, () => lag);

  await t.step("idle: no line", () => {
    now = 5000;
    reporter.report();
    assert.equal(lines.length, 0);
  });
  await t.step("traffic: one line with the interval's figures", () => {
    stats.messagesRead += 110;
    stats.rowsWritten += 100;
    stats.countDeadLetters(["missing_field"], [true]);
    stats.errors += 2;
    lag = { lag: 40, pending: 10 };
    now = 10_000;
    reporter.report();
    assert.equal(lines.length, 1);
    const [msg, p] = lines[0]!;
    assert.equal(msg, "throughput");
    assert.equal(p?.rows_per_sec, 20);
    assert.equal(p?.dead_lettered, 1);
    assert.equal(p?.retries, 2);
    assert.equal(p?.lag, 40);
    assert.equal(p?.pending, 10);
  });
  await t.step("a backlog that does not move: a line once a minute, not every interval", () => {
    for (now = 15_000; now < 70_000; now += 5000) reporter.report();
    assert.equal(lines.length, 1, "nothing moved: no line before a minute has passed");
    now = 70_000;
    stats.errors += 3;
    reporter.report();
    assert.equal(lines.length, 2);
    assert.equal(lines[1]![1]?.rows_per_sec, 0);
    assert.equal(lines[1]![1]?.lag, 40);
    assert.equal(lines[1]![1]?.retries, 3);
    assert.equal(lines[1]![1]?.interval_sec, 60, "the line covers the whole minute");
  });
  await t.step("without a lag snapshot: nulls, and quiet when idle", () => {
    lag = undefined;
    now = 75_000;
    reporter.report();
    assert.equal(lines.length, 2);
    stats.rowsWritten++;
    now = 135_000;
    reporter.report();
    assert.equal(lines[2]![1]?.lag, null);
    assert.equal(lines[2]![1]?.rows_per_sec, 0.017, "one row in a minute is not rounded to 0");
  });
});

Deno.test("shownRate: never 0 when something was written", () => {
  assert.equal(shownRate(0, 5), 0);
  assert.equal(shownRate(1, 5), 0.2);
  assert.equal(shownRate(1, 60), 0.017);
  assert.equal(shownRate(7, 3), 2.3);
  assert.equal(shownRate(100, 5), 20);
  assert.equal(shownRate(12_345, 5), 2469);
});
