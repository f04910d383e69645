/**
 * A redis-server of a test's (or a bench's) own, on a free port in a
 * temporary directory: for server configuration the shared Redis must keep.
 */
import { Redis } from "ioredis";
import { waitFor } from "./wait.ts";
import { freePort } from "./net.ts";

/** A running private server: its port, a client, and its process id (for /proc). */
export interface PrivateRedis extends AsyncDisposable {
  readonly port: number;
  readonly pid: number;
  readonly client: Redis;
}

/** A redis-server of this test's own on a free port, with `args` added; removed on dispose. */
export async function privateRedis(args: string[] = []): Promise<PrivateRedis> {
  const dir = await Deno.makeTempDir({ prefix: "db-writer-redis-" });
  const port = freePort();
  const child = new Deno.Command("redis-server", {
    args: ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no", ...args],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const client = new Redis({ host: "127.0.0.1", port, lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on("error", () => {});
  await waitFor(async () => (await client.ping().catch(() => "")) === "PONG", {
    timeoutMs: 10_000,
    what: "the private redis-server",
  });
  return {
    port,
    pid: child.pid,
    client,
    async [Symbol.asyncDispose]() {
      client.disconnect();
      child.kill("SIGTERM");
      await child.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
