/**
 * Names from the iotDashboard writer's `.env` (both generations) that mean a
 * setting of ours under another name or unit: each is an alias of that
 * setting, so an operator keeps the `.env` they have. See
 * docs/coming-from-iotdashboard.md for the whole mapping.
 */
import type { Alias } from "./setting.ts";

const NOTE = "the iotDashboard writer's name";

/** A whole number as written (sign allowed), else undefined. */
function wholeNumber(raw: string): number | undefined {
  const s = raw.trim();
  return /^[+-]?\d{1,15}$/.test(s) ? Number(s) : undefined;
}

/**
 * `BLOCK_TIME_MS`: that writer's XREADGROUP block, in milliseconds; here the
 * longest read wait is BATCH_TIMEOUT_SEC, in seconds. 0 (Redis: wait for
 * ever) keeps this service's default: entries are read as soon as they
 * arrive either way, and a long wait would only delay finding new streams
 * and claiming abandoned entries.
 */
export const BLOCK_TIME_MS: Alias = {
  env: "BLOCK_TIME_MS",
  note: `${NOTE}, in milliseconds; 0 (wait for ever) keeps the default`,
  expected: "a whole number of milliseconds from 0 to 3600000",
  convert: (raw) => {
    const ms = wholeNumber(raw);
    if (ms === undefined || ms < 0 || ms > 3_600_000) return "invalid";
    return ms === 0 ? "" : String(ms / 1000);
  },
};

/** `TRIM_MAXLEN`: that writer's cap of its dead-letter stream `mqtt:dlq` (XADD MAXLEN ~). */
export const TRIM_MAXLEN: Alias = { env: "TRIM_MAXLEN", note: NOTE };

/**
 * `MAX_RETRIES`: that writer retried a failed batch write this many times
 * before dead-lettering it, so it tried 1 + MAX_RETRIES times; the same
 * bound here is MAX_DELIVERIES (a database outage never counts here).
 */
export const MAX_RETRIES: Alias = {
  env: "MAX_RETRIES",
  note: `${NOTE}: retries after the first try, so MAX_DELIVERIES = MAX_RETRIES + 1`,
  expected: "a whole number of retries from 0 to 999",
  convert: (raw) => {
    const n = wholeNumber(raw);
    return n === undefined || n < 0 || n > 999 ? "invalid" : String(n + 1);
  },
};
