/**
 * A small fixed set of labels for dead-letter reasons, so that metrics can
 * count them by kind without one series per message text.
 */

/** Every label {@link reasonClass} can return. */
export const REASON_CLASSES = [
  "missing_field",
  "bad_identifier",
  "bad_value",
  "bad_timestamp",
  "invalid_json",
  "bad_metadata",
  "too_large",
  "bad_encoding",
  "rejected_by_database",
  "max_deliveries",
  "other",
] as const;

/** One dead-letter reason class. */
export type ReasonClass = typeof REASON_CLASSES[number];

const RULES: readonly [RegExp, ReasonClass][] = [
  [/^delivered \d+ times without being stored/, "max_deliveries"],
  [/^database refused the row/, "rejected_by_database"],
  [/^(sensor_type|device_id|value|timestamp) missing/, "missing_field"],
  [/^(sensor_type|device_id) (is \d+ characters long|contains a NUL)/, "bad_identifier"],
  [/^value .* is not a finite decimal number/, "bad_value"],
  [/^timestamp .* is not a valid ISO 8601/, "bad_timestamp"],
  [/^message (has \d+ fields|is .*bytes)/, "too_large"],
  [/contains (U\+FFFD|a NUL character)/, "bad_encoding"],
  [/^metadata is (at least )?\d+ bytes/, "too_large"],
  [/^metadata is not valid JSON/, "invalid_json"],
  [/^metadata /, "bad_metadata"],
];

/** The class of a dead-letter reason as the decoder, writer or pipeline words it. */
export function reasonClass(reason: string): ReasonClass {
  for (const [re, cls] of RULES) if (re.test(reason)) return cls;
  return "other";
}
