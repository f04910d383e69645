/** Rows of the settings table: Consuming streams. */
import { setting } from "../setting.ts";
import { int, name, oneOf, seconds } from "../fields.ts";
import { patterns } from "../connection_fields.ts";
import { BLOCK_TIME_MS, TRIM_MAXLEN } from "../iotdashboard.ts";

/** Consuming settings. */
export const CONSUMING = {
  consumerGroup: setting(
    "CONSUMER_GROUP_NAME",
    "consuming",
    name("db_writer"),
    "Redis consumer group, shared by every instance.",
  ),
  consumerName: setting(
    "CONSUMER_NAME",
    "consuming",
    name(undefined, "<hostname>-<pid>"),
    "This instance's name in the group; unique per running instance.",
  ),
  streamPatterns: setting(
    "STREAM_PATTERN",
    "consuming",
    patterns("mqtt_stream:*,mqtt:ingestion"),
    "Stream keys to consume: a glob, or a comma-separated list of globs and exact keys; new matching streams are " +
      "picked up while running. The readings layout's default takes both message shapes: the per-sensor streams " +
      "and the shared stream of the iotDashboard's current ingestion service.",
    { layoutDefaults: { telemetry: "mqtt:ingestion" } },
  ),
  deadLetterStream: setting(
    "DEAD_LETTER_STREAM",
    "consuming",
    name("mqtt_stream:failed"),
    "Stream that receives rejected entries; never consumed as input, even when a glob of STREAM_PATTERN matches it.",
    { layoutDefaults: { telemetry: "mqtt:dlq" } },
  ),
  deadLetterMaxLen: setting(
    "DEAD_LETTER_MAXLEN",
    "consuming",
    int(0, 0, 1_000_000_000),
    "Approximate cap on the dead-letter stream's length (oldest entries are trimmed first); 0 keeps everything.",
    { aliases: [TRIM_MAXLEN], layoutDefaults: { telemetry: "10000" } },
  ),
  batchSize: setting(
    "BATCH_SIZE",
    "consuming",
    int(500, 1, 100_000),
    "Most entries read and written in one batch, across all streams. With hundreds of streams or a backlog to " +
      "drain, 2000 is faster (docs/performance.md).",
  ),
  batchMaxBytes: setting(
    "BATCH_MAX_BYTES",
    "consuming",
    int(0, 0, 2_147_483_647),
    "Most bytes of one batch; fewer than BATCH_SIZE entries are read when they are large. 0 derives it from the " +
      "heap: an eighth of the heap limit per batch in hand (WRITE_CONCURRENCY + 1), at most 32 MiB.",
  ),
  batchTimeoutMs: setting(
    "BATCH_TIMEOUT_SEC",
    "consuming",
    seconds(5, 0.001, 3600),
    "Longest one read waits for new entries while every stream is empty; entries that arrive are written at once.",
    { aliases: [BLOCK_TIME_MS] },
  ),
  processingIntervalMs: setting(
    "PROCESSING_INTERVAL_SEC",
    "consuming",
    seconds(0, 0, 3600),
    "Pause after a read that found nothing; never slows a busy service.",
  ),
  discoveryIntervalMs: setting(
    "DISCOVERY_INTERVAL_SEC",
    "consuming",
    seconds(5, 0.1, 3600),
    "How often Redis is scanned for new streams matching STREAM_PATTERN. A new stream is usually found within a " +
      "second anyway (NEW_STREAM_NOTIFY); this scan is the safety net.",
  ),
  newStreamNotify: setting(
    "NEW_STREAM_NOTIFY",
    "consuming",
    oneOf<"auto" | "enable" | "off">("auto", ["auto", "enable", "off"]),
    "How a new stream is noticed within about a second: `auto` listens to Redis's new-key notifications when the " +
      "server's `notify-keyspace-events` has `E` and `n`, else checks DBSIZE every second and scans when it changed; " +
      "`enable` also adds `En` to `notify-keyspace-events` (CONFIG SET) when missing; `off` leaves it to " +
      "DISCOVERY_INTERVAL_SEC.",
  ),
} as const;
