/**
 * What the current iotDashboard writer leaves behind: its `.env` (every name
 * its configuration reads, its defaults written out) and its dead letters.
 */

/** Its `.env`. */
export const CURRENT_WRITER_ENV = [
  "REDIS_HOST=localhost",
  "REDIS_PORT=6379",
  "REDIS_DB=0",
  "REDIS_PASSWORD=",
  "DB_HOST=db.internal",
  "DB_PORT=5433",
  "DB_NAME=iot_data",
  "DB_USER=iot",
  "DB_PASSWORD=example",
  "ENABLE_TIMESCALE=true",
  "CONSUMER_GROUP_NAME=db_writer",
  "CONSUMER_NAME=worker-01",
  "BATCH_SIZE=100",
  "BATCH_TIMEOUT_SEC=5",
  "PROCESSING_INTERVAL_SEC=1.0",
  "BLOCK_TIME_MS=5000",
  "MAX_RETRIES=3",
  "TRIM_MAXLEN=10000",
  "LOG_LEVEL=INFO",
  "LOG_FORMAT=json",
  // Names of the same project's compose file, for the database container: nothing here.
  "POSTGRES_USER=postgres",
  "POSTGRES_PASSWORD=example",
  "POSTGRES_DB=iot_data",
].join("\n");

/** Dead letters as it adds them to `mqtt:dlq` (its field order), for entries of `input`; the last holds no reading. */
export function upstreamLetters(input: string): Record<string, string>[] {
  return [
    {
      stream_key: input,
      message_id: "1764324000000-0",
      device_id: "esp32-01",
      metric: "temperature",
      value: "21.5",
      timestamp: "2026-11-28T10:00:00.123456",
      reason: "db-write-failed",
    },
    {
      stream_key: input,
      message_id: "1764324000001-0",
      device_id: "esp32-02",
      metric: "humidity",
      value: "40.0",
      timestamp: "2026-11-28T10:00:01",
      reason: "transform-failed",
    },
    // A letter a person put there by hand, or one of an entry that could not be parsed: no reading in it.
    { stream_key: input, message_id: "1764324000002-0", device_id: "esp32-03", reason: "parse-failed" },
  ];
}
