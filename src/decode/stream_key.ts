/** What a per-sensor stream key says about its readings. Pure. */

/** Splits `prefix:device_id:sensor_type` (the sensor type may contain `:`). */
export function parseStreamKey(key: string): { deviceId?: string; sensorType?: string } {
  const first = key.indexOf(":");
  const second = first < 0 ? -1 : key.indexOf(":", first + 1);
  if (second < 0) return {};
  return { deviceId: key.slice(first + 1, second), sensorType: key.slice(second + 1) };
}
