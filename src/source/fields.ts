/** Stream entry fields as Redis returns them (a flat list) → an object. Pure. */

/** Turns a flat `[k1, v1, k2, v2]` reply into an object (a repeated field keeps its last value). */
export function fieldsToObject(flat: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const k = flat[i]!;
    if (k === "__proto__") setOwnField(out, k, flat[i + 1]!);
    else out[k] = flat[i + 1]!;
  }
  return out;
}

/** Sets a field as an own property even when its name is `__proto__` (which plain assignment drops). */
export function setOwnField(out: Record<string, string>, name: string, value: string): void {
  Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
}
