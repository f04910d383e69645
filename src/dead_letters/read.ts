/**
 * A dead-letter entry read back for `dlq list` and `dlq replay` (pure),
 * whichever writer put it there: this service (its own fields, every
 * original field kept), the current iotDashboard writer (`stream_key`,
 * `message_id`, `device_id`, `metric`, `value`, `timestamp`, `reason`,
 * added to `mqtt:dlq`), or another tool (everything but the names this
 * service uses for itself).
 */
import { originalFields } from "./format.ts";

/** What one dead letter says: where it came from, why, when, and the fields a replay re-adds. */
export interface LetterView {
  readonly original_stream: string | null;
  readonly original_id: string | null;
  readonly error: string | null;
  /** Unix seconds (a non-numeric `failed_at` is shown as written). */
  readonly failed_at: number | string | null;
  readonly fields: Record<string, string>;
  /** Why a replay cannot make a reading of it, when that is known before trying. */
  readonly unreplayable?: string;
}

/** The fields the iotDashboard writer's dead letters describe themselves with. */
const IOTDASHBOARD_META = ["stream_key", "message_id", "reason"] as const;
/** What an entry of its input stream holds, and a replay must re-add. */
const IOTDASHBOARD_MESSAGE = ["device_id", "metric", "value", "timestamp"] as const;

/** Whether a dead letter is in the iotDashboard writer's shape (none of ours, its `stream_key` instead). */
export function isIotDashboardLetter(dead: Readonly<Record<string, string>>): boolean {
  return !Object.hasOwn(dead, "original_stream") && Object.hasOwn(dead, "stream_key");
}

/** The time an entry id names, in Unix seconds (when the letter was added), or null. */
function idSeconds(id: string): number | null {
  const ms = Number(id.split("-")[0]);
  return Number.isFinite(ms) ? ms / 1000 : null;
}

/** Reads a dead letter, given its id in the dead-letter stream and its fields. */
export function readLetter(id: string, dead: Readonly<Record<string, string>>): LetterView {
  if (isIotDashboardLetter(dead)) return readIotDashboardLetter(id, dead);
  const failedAt = dead.failed_at === undefined ? null : Number(dead.failed_at);
  return {
    original_stream: dead.original_stream ?? null,
    original_id: dead.original_id ?? null,
    error: dead.error ?? null,
    failed_at: failedAt === null || Number.isFinite(failedAt) ? failedAt : dead.failed_at!,
    fields: originalFields(dead),
  };
}

function readIotDashboardLetter(id: string, dead: Readonly<Record<string, string>>): LetterView {
  const fields: Record<string, string> = {};
  for (const [k, v] of Object.entries(dead)) {
    if (!(IOTDASHBOARD_META as readonly string[]).includes(k)) fields[k] = v;
  }
  const missing = IOTDASHBOARD_MESSAGE.filter((k) => (fields[k]?.trim() ?? "") === "");
  const reason = dead.reason ?? null;
  return {
    original_stream: dead.stream_key || null,
    original_id: dead.message_id ?? null,
    error: `dead-lettered by the iotDashboard writer: ${reason ?? "no reason given"}`,
    failed_at: idSeconds(id),
    fields,
    ...(missing.length > 0
      ? {
        unreplayable: `it is a dead letter of the iotDashboard writer${
          reason ? ` (reason ${JSON.stringify(reason)})` : ""
        } without ${missing.join(", ")}, so it holds no reading to re-add`,
      }
      : {}),
  };
}
