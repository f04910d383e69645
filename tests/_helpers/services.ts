/**
 * Where the tests' Redis and PostgreSQL are: TEST_REDIS_URL and
 * TEST_DATABASE_URL, else Redis database 15 and the PostgreSQL database
 * `test` on 127.0.0.1 — never Redis database 0 or the `postgres` database
 * unless told. The database is created once (from a maintenance connection)
 * when it does not exist yet.
 */
import postgres from "postgres";

export const REDIS_URL = Deno.env.get("TEST_REDIS_URL") || "redis://127.0.0.1:6379/15";
export const DATABASE_URL = Deno.env.get("TEST_DATABASE_URL") || "postgres://postgres@127.0.0.1:5432/test";

/** `url` with its host and port replaced (user, password, database and query kept), e.g. to go through a proxy. */
export function withHostPort(url: string, hostname: string, port: number): string {
  const u = new URL(url);
  u.hostname = hostname;
  u.port = String(port);
  return u.toString();
}

/** The host and port of a service URL (the default port of its scheme when it names none). */
export function hostPort(url: string): { hostname: string; port: number } {
  const u = new URL(url);
  const fallback = u.protocol.startsWith("redis") ? 6379 : 5432;
  return { hostname: u.hostname.replace(/^\[|\]$/g, ""), port: u.port ? Number(u.port) : fallback };
}

/** Creates the database DATABASE_URL names when it is missing (a race with another test file is fine). */
async function ensureDatabase(url: string): Promise<void> {
  const probe = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await probe`SELECT 1`;
    return;
  } catch (err) {
    if ((err as { code?: string }).code !== "3D000") throw err; // invalid_catalog_name: the database is missing
  } finally {
    await probe.end({ timeout: 5 });
  }
  const u = new URL(url);
  const name = decodeURIComponent(u.pathname.slice(1));
  u.pathname = "/postgres";
  const admin = postgres(u.toString(), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`CREATE DATABASE "${name.replaceAll('"', '""')}"`);
  } catch (err) {
    // 42P04 duplicate_database, 23505: another test file created it at the same moment.
    if (!["42P04", "23505"].includes(String((err as { code?: string }).code))) throw err;
  } finally {
    await admin.end({ timeout: 5 });
  }
}

await ensureDatabase(DATABASE_URL);
