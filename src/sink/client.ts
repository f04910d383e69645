/**
 * The PostgreSQL connection pool (postgres.js behind this one module).
 */
import postgres from "postgres";
import net from "node:net";
import { succeedsWithin } from "../async/deadline.ts";
import { postgresTls } from "../tls.ts";
import { isConnectionError } from "../errors.ts";

/** A connection pool with tagged-template and `unsafe` queries. */
export type Sql = postgres.Sql;

/**
 * Opens a lazily-connecting pool; nothing touches the network until the first
 * query. TLS follows the URL's `sslmode`, `sslrootcert`, `sslcert`, `sslkey`.
 * @throws {Error} when a TLS file named in the URL cannot be read.
 */
export function connectPostgres(url: string, opts: { max?: number; connectTimeoutSec?: number } = {}): Sql {
  const tls = postgresTls(url);
  // The driver accepts a socket factory but does not declare it in its types.
  const socket: Record<string, unknown> = { socket: noDelaySocket() };
  return postgres(tls.url, {
    ssl: tls.ssl,
    max: opts.max ?? 4,
    connect_timeout: opts.connectTimeoutSec ?? 10,
    idle_timeout: 60,
    max_lifetime: 60 * 30,
    onnotice: () => {},
    connection: { application_name: "db-writer" },
    ...socket,
  });
}

/** What the driver passes to its `socket` option: the parsed connection options. */
interface SocketOptions {
  readonly host: readonly string[];
  readonly port: readonly number[];
  readonly path?: string | false;
}

/**
 * Opens the driver's TCP connections with Nagle's algorithm off. Under Deno
 * the driver leaves it on, and the small closing message of each COPY or
 * transaction step then waits for a delayed ACK (about 40 ms per round trip).
 * The socket is returned while it connects: the driver's own handlers see a
 * refused or dropped connection as usual (and reconnect later), and what it
 * writes meanwhile is sent once connected.
 */
function noDelaySocket(): (o: SocketOptions) => net.Socket {
  let next = 0;
  return (o) => {
    if (o.path) return net.connect(o.path);
    const i = next++ % Math.max(1, o.host.length);
    const host = o.host[i] ?? "localhost", port = o.port[i] ?? o.port[0] ?? 5432;
    const socket = net.connect(port, host);
    // Set before the connection is up; it applies once it is (and survives
    // the TLS upgrade, which drops this socket's listeners).
    socket.setNoDelay(true);
    // The driver names the TLS server (SNI, certificate check) after these.
    return Object.assign(socket, { host, port });
  };
}

/**
 * True for an error a dying connection gives the driver: a server error
 * (named PostgresError: 57P01 from a terminated backend, say), or a failed
 * connection (the driver's CONNECTION_CLOSED, a socket's EPIPE or ECONNRESET).
 */
export function isDriverError(err: unknown): boolean {
  if (typeof err !== "object" || err === null) return false;
  return (err as { name?: unknown }).name === "PostgresError" || isConnectionError(err);
}

/**
 * Keeps the process alive through a rejection the driver leaves unhandled.
 * On each new connection the driver looks up the server's array types with a
 * query of its own and drops that query's promise: when the connection fails
 * during the lookup (its backend terminated, the network cut), the rejection
 * reaches nobody and by default ends the process. The connection is gone
 * either way and the pool opens another; the service's own statements on it
 * fail and are retried as usual. `onDropped` hears of each such error; any
 * other rejection left unhandled still ends the process.
 */
export function guardDriverRejections(onDropped: (err: unknown) => void): Disposable {
  const listener = (e: PromiseRejectionEvent) => {
    if (!isDriverError(e.reason)) return;
    e.preventDefault();
    onDropped(e.reason);
  };
  globalThis.addEventListener("unhandledrejection", listener);
  return { [Symbol.dispose]: () => globalThis.removeEventListener("unhandledrejection", listener) };
}

/** A pool that closes itself when disposed (`await using`, `AsyncDisposableStack.use`). */
export type Postgres = Sql & AsyncDisposable;

/**
 * Opens a pool as {@link connectPostgres} does; disposing it closes it, waiting at most 1 s for running queries.
 * @throws {Error} when a TLS file named in the URL cannot be read.
 */
export function openPostgres(url: string, opts: { max?: number; connectTimeoutSec?: number } = {}): Postgres {
  const sql = connectPostgres(url, opts);
  return Object.assign(sql, { [Symbol.asyncDispose]: () => closePostgres(sql).catch(() => {}) });
}

/** Closes the pool, waiting at most `timeoutSec` for running queries. */
export async function closePostgres(sql: Sql, timeoutSec = 1): Promise<void> {
  await sql.end({ timeout: timeoutSec });
}

/** Answers whether the database responds, within `timeoutMs`; `onError` learns why not. */
export function pingPostgres(sql: Sql, timeoutMs = 2000, onError?: (err: unknown) => void): Promise<boolean> {
  return succeedsWithin(
    sql`select 1`.execute().catch((err) => {
      onError?.(err);
      throw err;
    }),
    timeoutMs,
  );
}
