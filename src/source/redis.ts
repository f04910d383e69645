/**
 * Redis connections (ioredis behind this one module). Reconnects forever
 * with capped backoff; commands fail fast while disconnected so the caller's
 * retry loop, not the driver, decides what to do. With REDIS_CLUSTER_NODES
 * the connection is a Redis Cluster client that routes each command to the
 * node owning its key.
 */
import { Cluster, Redis } from "ioredis";
import { deadline, succeedsWithin } from "../async/deadline.ts";
import { RedisUnavailableError } from "../errors.ts";
import { redisTlsOptions, type RedisTlsSettings } from "../tls.ts";

/** Connection settings for Redis, from `REDIS_URL` or the `REDIS_*` variables. */
export interface RedisSettings extends RedisTlsSettings {
  readonly port: number;
  readonly db: number;
  readonly username?: string;
  readonly password?: string;
  /** Seed nodes of a Redis Cluster (REDIS_CLUSTER_NODES); absent for a single server. */
  readonly cluster?: readonly RedisNode[];
}

/** One `host:port` of REDIS_CLUSTER_NODES. */
export interface RedisNode {
  readonly host: string;
  readonly port: number;
}

/** A Redis connection: to one server, or to a cluster. */
export type RedisClient = Redis | Cluster;

/** A connection to one Redis server (one node of a cluster, say). */
export type RedisServer = Redis;

/** True when `client` talks to a Redis Cluster (multi-key commands must then stay within one slot). */
export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster;
}

/**
 * The servers that hold the data: every master of a cluster (waiting until
 * the cluster client knows them), or the one server.
 */
export async function masterServers(client: RedisClient): Promise<RedisServer[]> {
  if (!isCluster(client)) return [client];
  await whenReady(client, 2_000);
  const masters = client.nodes("master");
  if (masters.length === 0) throw new RedisUnavailableError("the Redis Cluster client knows no master node yet");
  return masters;
}

/**
 * Opens a connection; `onError` receives connection errors (never thrown).
 * @throws {Error} when a TLS file named in the settings cannot be read.
 */
export function connectRedis(
  settings: RedisSettings,
  opts: { name: string; commandTimeoutMs?: number; onError?: (err: Error) => void },
): RedisClient {
  if (settings.cluster) return connectCluster(settings, settings.cluster, opts);
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
  dropLateSocketErrors(client);
  return client;
}

/**
 * A TLS socket the server closes with an alert (e.g. no client certificate)
 * can report a second error (EPIPE for a write in flight) after ioredis has
 * stopped listening to it, which would crash the process: ioredis has seen
 * the first one and reconnects, so later ones are dropped.
 */
function dropLateSocketErrors(client: Redis): void {
  client.on("connect", () => client.stream?.on("error", () => {}));
}

/**
 * Waits until a cluster client knows the cluster (a single-server client
 * returns at once): a cluster client fails commands while it does not.
 * @throws {RedisUnavailableError} (transient) when not ready within `timeoutMs`.
 */
export async function whenReady(client: RedisClient, timeoutMs: number): Promise<void> {
  if (!isCluster(client) || client.status === "ready") return;
  startConnecting(client);
  let onReady = () => {};
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
    client.once("ready", onReady);
  });
  try {
    await deadline(ready, timeoutMs);
  } catch {
    throw new RedisUnavailableError(`no node of the Redis Cluster answered within ${timeoutMs} ms`);
  } finally {
    client.off("ready", onReady);
  }
}

function connectCluster(
  settings: RedisSettings,
  seeds: NonNullable<RedisSettings["cluster"]>,
  opts: { name: string; commandTimeoutMs?: number; onError?: (err: Error) => void },
): Cluster {
  const cluster = new Cluster(seeds.map((n) => ({ host: n.host, port: n.port })), {
    lazyConnect: true,
    enableReadyCheck: true,
    // Fail fast while the cluster is unreachable (callers retry, and shutdown
    // is not held up by queued commands); see whenReady() for the start.
    enableOfflineQueue: false,
    // Re-read the slot map now and then: a master that went away and came back
    // (or was added) is otherwise only noticed when a command is redirected.
    slotsRefreshInterval: 5_000,
    // No auto-pipelining: it routes by the first argument, which for XREADGROUP,
    // XINFO, XGROUP and EVAL is not the key. Concurrent commands still share
    // each node's connection without waiting for one another.
    enableAutoPipelining: false,
    clusterRetryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 10), 2_000),
    redisOptions: {
      username: settings.username,
      password: settings.password,
      // The CA and client certificate apply to every node; no fixed server name,
      // since each node is checked against the address it is reached at.
      tls: clusterTlsOptions(settings),
      connectionName: opts.name,
      connectTimeout: 10_000,
      commandTimeout: opts.commandTimeoutMs,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
    },
  });
  cluster.on("error", (err: Error) => opts.onError?.(err));
  // Each node is a connection of its own, with the same TLS hazard.
  cluster.on("+node", (node: Redis) => dropLateSocketErrors(node));
  return cluster;
}

function clusterTlsOptions(settings: RedisSettings) {
  const options = redisTlsOptions(settings);
  if (options) delete options.servername;
  return options;
}

/** A connection that closes itself when disposed (`await using`, `AsyncDisposableStack.use`). */
export type RedisConnection = RedisClient & AsyncDisposable;

/**
 * Opens a connection as {@link connectRedis} does and starts connecting; disposing it closes it.
 * @throws {Error} when a TLS file named in the settings cannot be read.
 */
export function openRedis(
  settings: RedisSettings,
  opts: { name: string; commandTimeoutMs?: number; onError?: (err: Error) => void },
): RedisConnection {
  const client = connectRedis(settings, opts);
  startConnecting(client);
  return Object.assign(client, { [Symbol.asyncDispose]: () => closeRedis(client) });
}

/** Connects (if needed) without throwing; later commands report problems. */
export function startConnecting(client: RedisClient): void {
  if (client.status === "wait") client.connect().catch(() => {});
}

/** Closes a connection: QUIT when possible, else drops it. */
export async function closeRedis(client: RedisClient): Promise<void> {
  if (client.status === "end") return;
  try {
    await deadline(client.quit(), 1000);
  } catch {
    // already closed, or not answering: dropped below
  }
  client.disconnect(false);
}

/** Answers whether Redis responds, within `timeoutMs`. */
export function pingRedis(client: RedisClient, timeoutMs = 2000): Promise<boolean> {
  return succeedsWithin(
    whenReady(client, timeoutMs).then(() => client.ping()).then((reply) => {
      if (reply !== "PONG") throw new Error(`unexpected PING reply ${reply}`);
    }),
    timeoutMs,
  );
}
