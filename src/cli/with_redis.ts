/**
 * A Redis connection for one CLI command: opened, handed to the command,
 * closed; a command that fails because Redis cannot be reached says so,
 * with the address and the connection error, instead of the driver's
 * "max retries per request" message.
 */
import { describe, RedisUnavailableError } from "../errors.ts";
import {
  closeRedis,
  connectRedis,
  type RedisClient,
  type RedisSettings,
  startConnecting,
  whenReady,
} from "../source/redis.ts";

/** Runs `fn` with a fresh connection named `name`; always closes it. */
export async function withRedis<T>(
  settings: RedisSettings,
  name: string,
  fn: (redis: RedisClient) => Promise<T>,
): Promise<T> {
  let connectionError: Error | undefined;
  const redis = connectRedis(settings, {
    name,
    commandTimeoutMs: 30_000,
    onError: (err) => {
      connectionError = err;
    },
  });
  startConnecting(redis);
  try {
    await whenReady(redis, 10_000);
    return await fn(redis);
  } catch (err) {
    if (settings.cluster && err instanceof RedisUnavailableError) {
      throw new Error(
        `cannot reach the Redis Cluster at ${settings.cluster.map((n) => `${n.host}:${n.port}`).join(",")}: ${
          describe(connectionError ?? err)
        }`,
        { cause: err },
      );
    }
    if (connectionError && (err as Error).name === "MaxRetriesPerRequestError") {
      throw new Error(
        `cannot reach Redis at ${settings.host}:${settings.port} (db ${settings.db}): ${describe(connectionError)}`,
        { cause: err },
      );
    }
    throw err;
  } finally {
    await closeRedis(redis);
  }
}
