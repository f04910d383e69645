/** Rows of the settings table: Consuming streams. */
import { setting } from "../setting.ts";
import { int, name, seconds } from "../fields.ts";
import { patterns } from "../connection_fields.ts";

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
    patterns("mqtt_stream:*"),
    "Stream keys to consume: a glob, or a comma-separated list of globs and exact keys (e.g. " +
      "`mqtt_stream:*,mqtt:ingestion`); new matching streams are picked up while running.",
  ),
  deadLetterStream: setting(
    "DEAD_LETTER_STREAM",
    "consuming",
    name("mqtt_stream:failed"),
    "Stream that receives rejected entries; never consumed as input, even when a glob of STREAM_PATTERN matches it.",
  ),
  deadLetterMaxLen: setting(
    "DEAD_LETTER_MAXLEN",
    "consuming",
    int(0, 0, 1_000_000_000),
    "Approximate cap on the dead-letter stream's length (oldest entries are trimmed first); 0 keeps everything.",
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
    "How often Redis is scanned for new streams matching STREAM_PATTERN.",
  ),
} as const;
