/**
 * Helpers for the fault-injection tests: a TCP proxy that can cut PostgreSQL
 * or Redis off, backlog and load generators, and queries that check the delivery
 * guarantee (rows, dead letters, pending entries) on the real services.
 */
import type { Redis } from "ioredis";
import { addEntries } from "./streams.ts";
import type { ServiceProcess } from "./process.ts";
import type { World } from "./world.ts";

/** Closes a connection, ignoring "already closed". */
function closeQuietly(c: { close(): void }): void {
  try {
    c.close();
  } catch {
    // already closed
  }
}

/** Copies bytes one way until either side closes, then closes both; `gate` holds each chunk while frozen. */
async function pump(
  from: Deno.Conn,
  to: Deno.Conn,
  gate: () => Promise<void> = () => Promise.resolve(),
): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  try {
    while (true) {
      const n = await from.read(buf);
      if (n === null) break;
      await gate();
      let off = 0;
      while (off < n) off += await to.write(buf.subarray(off, n));
    }
  } catch {
    // a side was closed (by the peer or by cut()): the pair is finished
  } finally {
    closeQuietly(from);
    closeQuietly(to);
  }
}

/**
 * A TCP proxy on 127.0.0.1 with a random port, forwarding to `target`.
 * `cut()` drops every live connection and closes the listening socket, so new
 * connections are refused (ECONNREFUSED) until `restore()` listens again on
 * the same port.
 */
export class TcpProxy implements AsyncDisposable {
  #listener: Deno.TcpListener | undefined;
  #accepting: Promise<void> | undefined;
  readonly #conns = new Set<Deno.Conn>();
  readonly #upstreams = new Set<Deno.TcpConn>();
  readonly #tasks = new Set<Promise<void>>();
  #connections = 0;
  /** Set while frozen: resolves when thawed. */
  #frozen: { promise: Promise<void>; resolve: () => void } | undefined;

  private constructor(readonly port: number, private readonly target: { hostname: string; port: number }) {}

  /** Starts a proxy to `target` (see `hostPort` in services.ts for the test servers' addresses). */
  static start(target: { hostname: string; port: number }): TcpProxy {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const proxy = new TcpProxy(listener.addr.port, target);
    proxy.#listen(listener);
    return proxy;
  }

  /** True while connections are accepted. */
  get up(): boolean {
    return this.#listener !== undefined;
  }

  /** How many client connections were accepted since the start. */
  get connections(): number {
    return this.#connections;
  }

  /** Local ports of the live connections to the target (PostgreSQL's `client_port` of each backend). */
  upstreamPorts(): number[] {
    return [...this.#upstreams].map((c) => c.localAddr.port);
  }

  /** Drops all live connections and refuses new ones. */
  async cut(): Promise<void> {
    const listener = this.#listener;
    this.#listener = undefined;
    if (listener) closeQuietly(listener);
    await this.#accepting;
    for (const c of this.#conns) closeQuietly(c);
    this.#conns.clear();
  }

  /**
   * Stops forwarding without closing anything, as a SIGSTOPped server behaves:
   * connections stay open and are accepted, but nothing is answered until {@link thaw}.
   */
  freeze(): void {
    if (this.#frozen) return;
    let resolve = () => {};
    const promise = new Promise<void>((r) => (resolve = r));
    this.#frozen = { promise, resolve };
  }

  /** Forwards again everything held since {@link freeze}. */
  thaw(): void {
    this.#frozen?.resolve();
    this.#frozen = undefined;
  }

  /** Accepts connections again, on the same port. */
  async restore(): Promise<void> {
    if (this.#listener) return;
    for (let attempt = 0;; attempt++) {
      try {
        this.#listen(Deno.listen({ hostname: "127.0.0.1", port: this.port }));
        return;
      } catch (err) {
        if (!(err instanceof Deno.errors.AddrInUse) || attempt >= 50) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.thaw();
    await this.cut();
    await Promise.allSettled([...this.#tasks]);
  }

  #listen(listener: Deno.TcpListener): void {
    this.#listener = listener;
    this.#accepting = (async () => {
      try {
        for await (const client of listener) this.#forward(client);
      } catch {
        // the listener was closed by cut()
      }
    })();
  }

  #forward(client: Deno.Conn): void {
    this.#connections++;
    this.#conns.add(client);
    const task = (async () => {
      let upstream: Deno.TcpConn;
      try {
        upstream = await Deno.connect(this.target);
      } catch {
        closeQuietly(client);
        this.#conns.delete(client);
        return;
      }
      if (!this.#listener) {
        // cut while connecting upstream
        closeQuietly(client);
        closeQuietly(upstream);
        return;
      }
      this.#conns.add(upstream);
      this.#upstreams.add(upstream);
      const gate = () => this.#frozen?.promise ?? Promise.resolve();
      await Promise.all([pump(client, upstream, gate), pump(upstream, client, gate)]);
      this.#conns.delete(client);
      this.#conns.delete(upstream);
      this.#upstreams.delete(upstream);
    })();
    this.#tasks.add(task);
    task.finally(() => this.#tasks.delete(task));
  }
}

/** A TCP port that was free a moment ago (for HTTP_PORT). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  return port;
}

/** GET `url`; the status code, or 0 when nothing answered. */
export async function httpStatus(url: string, timeoutMs = 5000): Promise<number> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return res.status;
  } catch {
    return 0;
  }
}

/** `stream id` — how entries, rows and dead letters are compared. */
export const entryKey = (stream: string, id: string): string => `${stream} ${id}`;

/** Fields of a valid per-sensor message. */
export function goodFields(i: number, value = 20 + (i % 100) / 10): Record<string, string> {
  const t = new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString();
  return { value: String(value), timestamp: t, metadata: JSON.stringify({ seq: i }) };
}

const MALFORMED: ReadonlyArray<(i: number) => Record<string, string>> = [
  (i) => ({ ...goodFields(i), value: "n/a" }),
  (i) => ({ ...goodFields(i), timestamp: "yesterday" }),
  (i) => ({ ...goodFields(i), metadata: "{not json" }),
];

/** Fields the decoder rejects (a bad value, timestamp or metadata, in turn). */
export function badFields(i: number): Record<string, string> {
  return MALFORMED[i % MALFORMED.length]!(i);
}

/** What a backlog holds: entry keys of the messages that must become rows and of those that must be dead-lettered. */
export interface Backlog {
  readonly streams: string[];
  readonly good: Set<string>;
  readonly bad: Set<string>;
}

/**
 * Writes `total` per-sensor messages round-robin over `streamCount` streams
 * (`${prefix}:dev<n>:temperature`); every `badEvery`-th one is malformed
 * (0 = none).
 */
export async function fillBacklog(
  redis: Redis,
  prefix: string,
  opts: { total: number; streamCount: number; badEvery?: number; chunk?: number },
): Promise<Backlog> {
  const streams = Array.from({ length: opts.streamCount }, (_, s) => `${prefix}:dev${s}:temperature`);
  const good = new Set<string>(), bad = new Set<string>();
  const chunk = opts.chunk ?? 1000;
  for (let start = 0; start < opts.total; start += chunk * streams.length) {
    for (const [s, stream] of streams.entries()) {
      const batch: { i: number; isBad: boolean; fields: Record<string, string> }[] = [];
      for (let k = 0; k < chunk; k++) {
        const i = start + k * streams.length + s;
        if (i >= opts.total) break;
        const isBad = (opts.badEvery ?? 0) > 0 && i % opts.badEvery! === opts.badEvery! - 1;
        batch.push({ i, isBad, fields: isBad ? badFields(i) : goodFields(i) });
      }
      if (batch.length === 0) continue;
      const ids = await addEntries(redis, stream, batch.map((b) => b.fields));
      ids.forEach((id, k) => (batch[k]!.isBad ? bad : good).add(entryKey(stream, id)));
    }
  }
  return { streams, good, bad };
}

/**
 * Adds messages continuously (every `everyMs`, `perTick` per stream) until
 * `stop()`, which resolves with everything it wrote.
 */
export function startProducer(
  redis: Redis,
  streams: readonly string[],
  opts: { everyMs?: number; perTick?: number } = {},
): { stop(): Promise<Set<string>>; readonly written: Set<string> } {
  const written = new Set<string>();
  let running = true;
  let i = 0;
  const loop = (async () => {
    while (running) {
      for (const stream of streams) {
        const fields = Array.from({ length: opts.perTick ?? 10 }, () => goodFields(i++));
        const ids = await addEntries(redis, stream, fields);
        for (const id of ids) written.add(entryKey(stream, id));
      }
      await new Promise((r) => setTimeout(r, opts.everyMs ?? 100));
    }
  })();
  return {
    written,
    async stop() {
      running = false;
      await loop;
      return written;
    },
  };
}

/** Row count and distinct (source_stream, source_id) count of the world's table (0/0 before it exists). */
export async function rowStats(world: World): Promise<{ rows: number; distinct: number }> {
  try {
    const [r] = await world.sql.unsafe(
      `SELECT count(*)::int AS rows, count(DISTINCT (source_stream, source_id))::int AS distinct
         FROM "${world.schema}".sensor_readings`,
    );
    return { rows: Number(r!.rows), distinct: Number(r!.distinct) };
  } catch (err) {
    if ((err as { code?: string }).code === "42P01") return { rows: 0, distinct: 0 }; // table not created yet
    throw err;
  }
}

/** Every `stream id` stored in the world's table. */
export async function storedKeys(world: World): Promise<Set<string>> {
  const rows = await world.sql.unsafe(`SELECT source_stream, source_id FROM "${world.schema}".sensor_readings`);
  return new Set(rows.map((r) => entryKey(String(r.source_stream), String(r.source_id))));
}

/** Every dead-letter entry of the world, as field objects. */
export async function deadLetters(world: World): Promise<Record<string, string>[]> {
  const entries = (await world.redis.xrange(world.deadLetterStream, "-", "+")) as [string, string[]][];
  return entries.map(([, flat]) => {
    const o: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) o[flat[i]!] = flat[i + 1]!;
    return o;
  });
}

/** Pending entries per consumer, summed over `streams` (a stream without the group counts as none). */
export async function pendingByConsumer(
  redis: Redis,
  streams: readonly string[],
  group: string,
): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const stream of streams) {
    let reply: unknown;
    try {
      reply = await redis.xpending(stream, group);
    } catch {
      continue; // NOGROUP: nothing read yet
    }
    const consumers = ((reply as unknown[])[3] ?? []) as [string, string][];
    for (const [name, count] of consumers) out.set(name, (out.get(name) ?? 0) + Number(count));
  }
  return out;
}

/** Pending entries of the group, summed over `streams`. */
export async function totalPending(redis: Redis, streams: readonly string[], group: string): Promise<number> {
  let sum = 0;
  for (const n of (await pendingByConsumer(redis, streams, group)).values()) sum += n;
  return sum;
}

/** Consumer names of the group on `stream`. */
export async function groupConsumers(redis: Redis, stream: string, group: string): Promise<string[]> {
  const infos = (await redis.xinfo("CONSUMERS", stream, group)) as unknown[][];
  return infos.map((flat) => {
    const i = flat.indexOf("name");
    return String(flat[i + 1]);
  });
}

/** Log records of `svc` whose message matches `re` (and `pred`). */
export function logsMatching(
  svc: ServiceProcess,
  re: RegExp,
  pred: (r: Record<string, unknown>) => boolean = () => true,
): Record<string, unknown>[] {
  return svc.records().filter((r) => re.test(String(r.message ?? "")) && pred(r));
}

/** The last lines of a service's output, for assertion messages. */
export function tail(svc: ServiceProcess, n = 40): string {
  return `stdout:\n${svc.lines.slice(-n).join("\n")}\nstderr:\n${svc.errLines.slice(-n).join("\n")}`;
}
