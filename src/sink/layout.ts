/**
 * The table layouts db-writer can write: `readings` (its own
 * `sensor_readings` shape, with source columns for idempotency) and
 * `telemetry` (the iotDashboard's current `telemetry(time, device_id, metric,
 * value, unit)`, idempotent on its natural primary key).
 */

/** Every layout, the default first. */
export const LAYOUTS = ["readings", "telemetry"] as const;

/** One of {@link LAYOUTS}. */
export type Layout = typeof LAYOUTS[number];
