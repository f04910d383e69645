/**
 * DB_HOST, DB_PORT, DB_NAME, DB_USER and DB_PASSWORD: the iotDashboard
 * writer's alternative to DATABASE_URL, turned into one. DATABASE_URL wins
 * when both are given; a set given in part names what it lacks.
 */
import { type Field, field, invalid } from "./fields.ts";

/** The parts, as the settings table reads them. */
export interface DatabaseParts {
  readonly host?: string;
  readonly port: number;
  readonly name?: string;
  readonly user?: string;
  readonly password?: string;
}

/** The variables of the set, and which of them must all be given (DB_PORT has a default). */
export const DATABASE_PART_VARIABLES = ["DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD"] as const;
export const REQUIRED_DATABASE_PARTS = ["DB_HOST", "DB_NAME", "DB_USER", "DB_PASSWORD"] as const;

/** A host name, IPv4 or IPv6 address (no port, no path). */
export function hostName(): Field<string | undefined> {
  const expected = "a host name or IP address (IPv6 without brackets), without port or path";
  const ipv6 = /^[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*$/;
  return field(expected, "", undefined, (v) => (/^[A-Za-z0-9._-]+$/.test(v) || ipv6.test(v) ? v : invalid(expected)));
}

/**
 * A database name that needs no escaping in a URL path: postgres.js takes
 * the path as it stands, so an escaped name would reach the server escaped.
 */
export function databaseName(): Field<string | undefined> {
  const expected = "a database name of letters, digits, _, - and . (at most 63 characters; other names need " +
    "DATABASE_URL)";
  return field(expected, "", undefined, (v) => (/^[A-Za-z0-9_.-]{1,63}$/.test(v) ? v : invalid(expected)));
}

/** The URL the parts make: user and password percent-encoded, an IPv6 host in brackets. */
export function databaseUrlFromParts(p: Required<DatabaseParts>): string {
  const host = p.host.includes(":") ? `[${p.host}]` : p.host;
  return `postgres://${encodeURIComponent(p.user)}:${encodeURIComponent(p.password)}@${host}:${p.port}/${p.name}`;
}

/** True when `name` holds something other than blanks. */
function isSet(env: Readonly<Record<string, string | undefined>>, name: string): boolean {
  return (env[name]?.trim() ?? "") !== "";
}

/** Whether the DB_* set decides the connection: DATABASE_URL unset and at least one DB_* given. */
export function usesDatabaseParts(env: Readonly<Record<string, string | undefined>>): boolean {
  return !isSet(env, "DATABASE_URL") && DATABASE_PART_VARIABLES.some((n) => isSet(env, n));
}

/** One problem per required DB_* variable missing from a set given in part (nothing when DATABASE_URL is set). */
export function missingDatabaseParts(env: Readonly<Record<string, string | undefined>>): string[] {
  if (!usesDatabaseParts(env)) return [];
  const given = DATABASE_PART_VARIABLES.filter((n) => isSet(env, n));
  return REQUIRED_DATABASE_PARTS.filter((n) => !isSet(env, n)).map((n) =>
    `${n}: got nothing, expected it set: ${given.join(", ")} ${given.length === 1 ? "is" : "are"} given, and ` +
    `a connection from DB_* needs all of ${REQUIRED_DATABASE_PARTS.join(", ")} (DB_PORT defaults to 5432); ` +
    `or set DATABASE_URL instead`
  );
}
