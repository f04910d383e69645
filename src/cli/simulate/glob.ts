/**
 * Redis-style glob matching (`*`, `?`, `[abc]`, `[^a-z]`, `\x`), for telling
 * a person whether a stream key would be consumed under STREAM_PATTERN.
 */

/** True when `key` matches the glob `pattern` the way Redis SCAN MATCH does. */
export function globMatches(pattern: string, key: string): boolean {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") re += "[\\s\\S]*";
    else if (c === "?") re += "[\\s\\S]";
    else if (c === "\\" && i + 1 < pattern.length) re += escape(pattern[++i]!);
    else if (c === "[") {
      const close = pattern.indexOf("]", i + 2);
      if (close < 0) {
        re += escape(c);
        continue;
      }
      let body = pattern.slice(i + 1, close);
      const negate = body.startsWith("^");
      if (negate) body = body.slice(1);
      re += `[${negate ? "^" : ""}${body.replace(/[\]\\]/g, "\\$&")}]`;
      i = close;
    } else re += escape(c);
  }
  return new RegExp(`^${re}$`).test(key);
}

function escape(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}
