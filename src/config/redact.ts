/**
 * Secrets never reach logs or error messages: URLs with their password
 * masked, secret settings as `***`.
 */
import { SETTING_LIST } from "./settings.ts";
import type { RedisSettings } from "../source/redis.ts";

const VISIBILITY = new Map(SETTING_LIST.flatMap((s) => {
  const v = s.visibility ?? "plain";
  return [[s.env, v] as const, ...(s.aliases ?? []).map((a) => [a.env, v] as const)];
}));

/**
 * Hides passwords in a URL (or something meant to be one), keeping the rest
 * readable: everything between the user name and the last `@` before the
 * host, and any `password=` query parameter.
 */
export function maskUrl(value: string): string {
  const schemeEnd = value.indexOf("://");
  const start = schemeEnd >= 0 ? schemeEnd + 3 : 0;
  let out = value;
  // The last `@` ends the user information: a password may hold `/`, `?`, `#`
  // or `@` unencoded. (An `@` in a query string may be over-masked; a password
  // is never under-masked.)
  const at = value.lastIndexOf("@");
  if (at > start) {
    const userinfo = value.slice(start, at);
    const colon = userinfo.indexOf(":");
    if (colon >= 0) out = `${value.slice(0, start)}${userinfo.slice(0, colon)}:***${value.slice(at)}`;
  }
  return out.replace(/([?&]password=)[^&]*/gi, "$1***");
}

/** A raw value of `variable` as it may appear in a message: quoted, secrets masked, "nothing" when unset. */
export function shown(variable: string, value: string | undefined): string {
  if (value === undefined) return "nothing";
  const visibility = VISIBILITY.get(variable) ?? "plain";
  if (visibility === "secret") return '"***"';
  if (visibility === "url") return JSON.stringify(maskUrl(value));
  return JSON.stringify(value);
}

/** Config keys of the secret settings (e.g. HTTP_BEARER_TOKEN's), shown as `***` when set. */
const SECRET_KEYS: ReadonlySet<string> = new Set(
  SETTING_LIST.filter((s) => s.visibility === "secret").map((s) => s.key),
);

/** A loggable view of the config: URLs masked, passwords and every secret setting as `***`. */
export function redactedConfig(
  config: { readonly redis: RedisSettings; readonly databaseUrl: string },
): Record<string, unknown> {
  const { password: _p, ...redis } = config.redis;
  const out: Record<string, unknown> = {
    ...config,
    redis: { ...redis, password: config.redis.password ? "***" : undefined },
    databaseUrl: maskUrl(config.databaseUrl),
  };
  for (const key of Object.keys(out)) {
    if (SECRET_KEYS.has(key) && out[key] !== undefined) out[key] = "***";
  }
  return out;
}

/**
 * Where a PostgreSQL URL points, for messages: `user@host:port/database`,
 * never the password (nor query parameters, which may hold one).
 */
export function databaseLabel(url: string): string {
  try {
    const u = new URL(url);
    const user = decodeURIComponent(u.username);
    const database = decodeURIComponent(u.pathname.replace(/^\//, "")) || user || "postgres";
    const host = u.host || u.searchParams.get("host") || "localhost";
    return `${user ? `${user}@` : ""}${host}/${database}`;
  } catch {
    return maskUrl(url).replace(/\?.*$/, "");
  }
}

/** Where Redis is, for messages: `user@host:port/db` (the first node of a cluster), never the password. */
export function redisLabel(redis: RedisSettings): string {
  const node = redis.cluster?.[0] ?? { host: redis.host, port: redis.port };
  return `${redis.username ? `${redis.username}@` : ""}${node.host}:${node.port}${redis.cluster ? "" : `/${redis.db}`}`;
}
