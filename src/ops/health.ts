/**
 * The health report shared by `db-writer health` and `GET /readyz`.
 */
import { pingRedis, type RedisClient } from "../source/redis.ts";
import { pingPostgres, type Sql } from "../sink/client.ts";

/**
 * `{running, redis, database, stats}` as in the contract, plus `ready` (what
 * `/readyz` answers: running, both up, no stall) and `lag` (entries not yet
 * delivered; null until measured).
 */
export interface HealthReport {
  running: boolean | null;
  redis: boolean;
  database: boolean;
  ready?: boolean;
  lag?: number | null;
  stats: Record<string, number> | null;
}

/** Pings both services concurrently; `onDatabaseError` learns why PostgreSQL failed. */
export async function checkDependencies(
  redis: RedisClient,
  sql: Sql,
  timeoutMs = 2000,
  onDatabaseError?: (err: unknown) => void,
): Promise<{ redis: boolean; database: boolean }> {
  const [r, d] = await Promise.all([pingRedis(redis, timeoutMs), pingPostgres(sql, timeoutMs, onDatabaseError)]);
  return { redis: r, database: d };
}
