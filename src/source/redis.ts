/**
 * Redis connections (ioredis behind this one module). Reconnects forever
 * with capped backoff; commands fail fast while disconnected so the caller's
 * retry loop, not the driver, decides what to do.
 */
import { Redis } from "ioredis";
import type { RedisSettings } from "../config.ts";
import { succeedsWithin } from "../retry.ts";
import { redisTlsOptions } from "../tls.ts";

/** A Redis connection. */
export type RedisClient = Redis;

/**
 * Opens a connection; `onError` receives connection errors (never thrown).
 * @throws {Error} when a TLS file named in the settings cannot be read.
 */
export function connectRedis(
  settings: RedisSettings,
  opts: { name: string; commandTimeoutMs?: number; onError?: (err: Error) => void },
): RedisClient {
  const client = new Redis({
    host: settings.host,
    port: settings.port,
    db: settings.db,
    username: settings.username,
    password: settings.password,
    tls: redisTlsOptions(settings),
    connectionName: opts.name,
    connectTimeout: 10_000,
    commandTimeout: opts.commandTimeoutMs,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    enableReadyCheck: true,
    lazyConnect: true,
    retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 10), 2_000),
  });
  client.on("error", (err: Error) => opts.onError?.(err));
  // A TLS socket the server closes with an alert (e.g. no client certificate)
  // can report a second error (EPIPE for a write in flight) after ioredis
  // has stopped listening to it, which would crash the process: ioredis has
  // seen the first one and reconnects, so later ones are dropped.
  client.on("connect", () => client.stream?.on("error", () => {}));
  return client;
}

/** Connects (if needed) without throwing; later commands report problems. */
export function startConnecting(client: RedisClient): void {
  if (client.status === "wait") client.connect().catch(() => {});
}

/** Closes a connection: QUIT when possible, else drops it. */
export async function closeRedis(client: RedisClient): Promise<void> {
  if (client.status === "end") return;
  try {
    await Promise.race([client.quit(), new Promise((r) => setTimeout(r, 1000))]);
  } catch {
    // already closed
  }
  client.disconnect(false);
}

/** Answers whether Redis responds, within `timeoutMs`. */
export function pingRedis(client: RedisClient, timeoutMs = 2000): Promise<boolean> {
  return succeedsWithin(
    client.ping().then((reply) => {
      if (reply !== "PONG") throw new Error(`unexpected PING reply ${reply}`);
    }),
    timeoutMs,
  );
}

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
