/**
 * A throwaway Redis Cluster for tests: three masters (no replicas) started
 * from the local `redis-server` on free ports in a temporary directory, joined
 * with `redis-cli --cluster create`, killed and removed on dispose.
 */
import { Cluster, Redis } from "ioredis";
import { freePort } from "./net.ts";

/** Why a local cluster cannot be started here, or undefined when it can. */
export async function clusterUnavailable(): Promise<string | undefined> {
  let version = "";
  for (const bin of ["redis-server", "redis-cli"]) {
    try {
      const out = await new Deno.Command(bin, { args: ["--version"], stdout: "piped", stderr: "null" }).output();
      if (!out.success) return `${bin} --version failed`;
      if (bin === "redis-server") version = /v=(\d+)\.(\d+)/.exec(new TextDecoder().decode(out.stdout))?.[1] ?? "";
    } catch {
      return `${bin} is not installed (apt-get install redis-server)`;
    }
  }
  if (Number(version) < 7) return `redis-server is version ${version || "unknown"}; the test needs 7 (--cluster-port)`;
  return undefined;
}

/** One master of a {@link LocalCluster}. */
export interface ClusterNodeInfo {
  readonly port: number;
  /** A plain connection to this node only (answers MOVED for keys it does not own). */
  readonly redis: Redis;
}

/** A running three-master cluster; `await using` stops it. */
export interface LocalCluster extends AsyncDisposable {
  readonly nodes: readonly ClusterNodeInfo[];
  /** `127.0.0.1:port,…` of every node. */
  readonly seeds: string;
  /** A cluster client for the test's own reads and writes. */
  readonly client: Cluster;
  /** The node serving `key` (asked of the cluster with CLUSTER KEYSLOT and CLUSTER SLOTS). */
  ownerOf(key: string): Promise<ClusterNodeInfo>;
  /** SIGKILLs node `i` (its data is lost: no persistence). */
  kill(i: number): Promise<void>;
  /** Starts node `i` again on its port and waits until the cluster is whole again. */
  restart(i: number): Promise<void>;
}

async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`local cluster: timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * Starts three masters and forms a cluster; throws (after cleaning up) when it
 * cannot. A second attempt, on other ports, covers a port taken between
 * choosing it and binding it, or a start that a busy machine made too slow.
 */
export async function startLocalCluster(): Promise<LocalCluster> {
  try {
    return await startLocalClusterOnce();
  } catch (first) {
    try {
      return await startLocalClusterOnce();
    } catch (second) {
      throw new Error(`local cluster failed twice: ${(first as Error).message}; then: ${(second as Error).message}`);
    }
  }
}

async function startLocalClusterOnce(): Promise<LocalCluster> {
  const dir = await Deno.makeTempDir({ prefix: "db-writer-cluster-" });
  const children: Deno.ChildProcess[] = [];
  const conns: Redis[] = [];
  let client: Cluster | undefined;
  const stop = async () => {
    client?.disconnect();
    for (const c of conns) c.disconnect();
    for (const child of children) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
      await child.status;
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    const ports = [freePort(), freePort(), freePort()];
    const busPorts = ports.map(() => freePort());
    const spawnNode = (i: number) =>
      new Deno.Command("redis-server", {
        args: [
          "--port",
          String(ports[i]),
          "--cluster-port",
          String(busPorts[i]),
          "--bind",
          "127.0.0.1",
          "--cluster-enabled",
          "yes",
          // Long enough that a node killed by a test is not declared failed
          // (which would stop the whole cluster) before it is restarted.
          "--cluster-node-timeout",
          "60000",
          "--cluster-config-file",
          `${dir}/nodes-${ports[i]}.conf`,
          "--dir",
          dir,
          "--logfile",
          `${dir}/redis-${ports[i]}.log`,
          "--save",
          "",
          "--appendonly",
          "no",
          "--daemonize",
          "no",
        ],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
    for (const port of ports) {
      children.push(spawnNode(children.length));
      const r = new Redis({ host: "127.0.0.1", port, lazyConnect: true, maxRetriesPerRequest: 1 });
      r.on("error", () => {});
      conns.push(r);
    }
    for (const r of conns) await until(`redis-server on ${r.options.port}`, async () => (await r.ping()) === "PONG");
    const create = await new Deno.Command("redis-cli", {
      args: ["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "0", "--cluster-yes"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!create.success) {
      const dec = new TextDecoder();
      throw new Error(`redis-cli --cluster create failed: ${dec.decode(create.stdout)}${dec.decode(create.stderr)}`);
    }
    const whole = async () => {
      for (const r of conns) {
        await until(`cluster_state:ok on ${r.options.port}`, async () => {
          const info = String(await r.cluster("INFO"));
          return info.includes("cluster_state:ok") && info.includes("cluster_known_nodes:3");
        });
      }
    };
    await whole();
    client = new Cluster(ports.map((port) => ({ host: "127.0.0.1", port })), { lazyConnect: true });
    client.on("error", () => {});
    await client.connect();
    const nodes = ports.map((port, i) => ({ port, redis: conns[i]! }));
    const cluster = client;
    return {
      nodes,
      seeds: ports.map((p) => `127.0.0.1:${p}`).join(","),
      client: cluster,
      async ownerOf(key: string) {
        const slot = Number(await conns[0]!.cluster("KEYSLOT", key));
        const ranges = await conns[0]!.cluster("SLOTS");
        const range = ranges.find(([from, to]) => slot >= from && slot <= to);
        const node = nodes.find((n) => n.port === Number(range?.[2]?.[1]));
        if (!node) throw new Error(`no node serves slot ${slot} of ${key}`);
        return node;
      },
      async kill(i: number) {
        children[i]!.kill("SIGKILL");
        await children[i]!.status;
      },
      async restart(i: number) {
        children[i] = spawnNode(i);
        await until(`redis-server on ${ports[i]}`, async () => (await conns[i]!.ping()) === "PONG");
        await whole();
      },
      [Symbol.asyncDispose]: async () => {
        await cluster.quit().catch(() => {});
        await stop();
      },
    };
  } catch (err) {
    const logs: string[] = [];
    for await (const f of Deno.readDir(dir)) {
      if (!f.name.endsWith(".log")) continue;
      const text = await Deno.readTextFile(`${dir}/${f.name}`).catch(() => "");
      logs.push(`${f.name}: ${text.trim().split("\n").slice(-5).join(" | ")}`);
    }
    await stop();
    throw new Error(`${(err as Error).message}${logs.length ? `; logs: ${logs.join("; ")}` : ""}`);
  }
}
