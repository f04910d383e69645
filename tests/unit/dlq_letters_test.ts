/**
 * Dead letters read back for `dlq list` and `dlq replay`, whichever writer
 * added them: the current iotDashboard writer's own shape (`stream_key`,
 * `message_id`, `device_id`, `metric`, `value`, `timestamp`, `reason`), and
 * this service's.
 */
import assert from "node:assert/strict";
import { readLetter } from "../../src/dead_letters/read.ts";
import { upstreamLetters } from "../_helpers/iotdashboard.ts";

Deno.test("readLetter: the iotDashboard writer's shape", async (t) => {
  await t.step("a complete letter: its stream, id, reason, the time it was added, the message fields", () => {
    const [letter] = upstreamLetters("mqtt:ingestion");
    assert.deepEqual(readLetter("1764324005000-3", letter!), {
      original_stream: "mqtt:ingestion",
      original_id: "1764324000000-0",
      error: "dead-lettered by the iotDashboard writer: db-write-failed",
      failed_at: 1764324005,
      fields: { device_id: "esp32-01", metric: "temperature", value: "21.5", timestamp: "2026-11-28T10:00:00.123456" },
    });
  });
  await t.step("a letter without a reading in it says what it lacks", () => {
    const view = readLetter("1764324005000-0", upstreamLetters("mqtt:ingestion")[2]!);
    assert.equal(
      view.unreplayable,
      'it is a dead letter of the iotDashboard writer (reason "parse-failed") without metric, value, timestamp, ' +
        "so it holds no reading to re-add",
    );
  });
  await t.step("this service's own letters are read as before", () => {
    const view = readLetter("1-0", {
      original_stream: "s",
      original_id: "2-0",
      error: "bad",
      failed_at: "1764324000.5",
      original_fields: '["value","stream_key"]',
      value: "x",
      stream_key: "kept",
    });
    assert.deepEqual(view, {
      original_stream: "s",
      original_id: "2-0",
      error: "bad",
      failed_at: 1764324000.5,
      fields: { value: "x", stream_key: "kept" },
    });
  });
});
