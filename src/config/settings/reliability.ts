/** Rows of the settings table: Retries, claims and shutdown. */
import { setting } from "../setting.ts";
import { int, seconds } from "../fields.ts";
import { MAX_RETRIES } from "../iotdashboard.ts";

/** Reliability settings. */
export const RELIABILITY = {
  claimMinIdleMs: setting(
    "CLAIM_MIN_IDLE_MS",
    "reliability",
    int(60_000, 100, 86_400_000),
    "Entries left pending this long by another consumer (one that crashed, say) are claimed by this one, in ms.",
  ),
  maxDeliveries: setting(
    "MAX_DELIVERIES",
    "reliability",
    int(5, 1, 1000),
    "An entry delivered more times than this without being stored is dead-lettered with its last error.",
    { aliases: [MAX_RETRIES] },
  ),
  consumerRemoveIdleMs: setting(
    "CONSUMER_REMOVE_IDLE_MS",
    "reliability",
    int(3_600_000, 1000, 2_592_000_000),
    "Consumers of the group idle this long (ms) with nothing pending are removed from it.",
  ),
  retryInitialMs: setting(
    "RETRY_INITIAL_MS",
    "reliability",
    int(200, 1, 60_000),
    "First delay (ms) before retrying after Redis or PostgreSQL failed; doubles per attempt, with jitter.",
  ),
  retryMaxMs: setting(
    "RETRY_MAX_MS",
    "reliability",
    int(30_000, 10, 600_000),
    "Longest delay (ms) between retries; at least RETRY_INITIAL_MS.",
  ),
  writeTimeoutMs: setting(
    "WRITE_TIMEOUT_SEC",
    "reliability",
    seconds(20, 0.1, 3600),
    "Longest one write of a batch to PostgreSQL may take (a lock held, a frozen server) before it is cancelled " +
      "and retried as an outage (not ready, one outage line); the entries stay pending meanwhile. Raise it when " +
      "large batches cross a slow link.",
  ),
  shutdownTimeoutMs: setting(
    "SHUTDOWN_TIMEOUT_SEC",
    "reliability",
    seconds(30, 1, 3600),
    "After SIGTERM/SIGINT, how long the batch in hand may take to finish; entries unfinished by then stay pending " +
      "(exit code 1).",
  ),
} as const;
