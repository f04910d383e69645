/**
 * Process counters for the bench, from /proc (Linux only; NaN elsewhere):
 * CPU time and peak RSS of a process, and which PostgreSQL backends and Redis
 * server a process talks to, so CPU per row can be split by process.
 */
import type postgres from "postgres";
import type { Redis } from "ioredis";

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ; 100 on every Linux this runs on). */
const TICKS = 100;

/** Peak resident memory (VmHWM) of a process in MB, or NaN. */
export async function peakRssMb(pid: number): Promise<number> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
  } catch {
    return NaN;
  }
}

/** User + system CPU seconds a process has used so far (all its threads), or NaN. */
export async function cpuSeconds(pid: number): Promise<number> {
  try {
    const fields = (await Deno.readTextFile(`/proc/${pid}/stat`)).split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS; // utime + stime
  } catch {
    return NaN;
  }
}

/** Local TCP ports of the sockets process `pid` holds open. */
async function localPorts(pid: number): Promise<Set<number>> {
  const inodes = new Set<string>();
  for await (const fd of Deno.readDir(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(await Deno.readLink(`/proc/${pid}/fd/${fd.name}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const ports = new Set<number>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const text = await Deno.readTextFile(file).catch(() => "");
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9 && inodes.has(cols[9]!)) ports.add(parseInt(cols[1]!.split(":")[1]!, 16));
    }
  }
  return ports;
}

/** PIDs of the PostgreSQL backends serving process `pid`'s connections (matched by client port). */
export async function backendsOf(sql: postgres.Sql, pid: number): Promise<number[]> {
  try {
    const ports = [...await localPorts(pid)];
    if (ports.length === 0) return [];
    const rows = await sql.unsafe(`SELECT pid FROM pg_stat_activity WHERE client_port = ANY($1::int[])`, [ports]);
    return rows.map((r) => Number(r.pid));
  } catch {
    return [];
  }
}

/** The Redis server's PID when it runs on this machine (its /proc entry is readable), else undefined. */
export async function redisPid(redis: Redis): Promise<number | undefined> {
  const info = await redis.info("server");
  const pid = Number(/process_id:(\d+)/.exec(info)?.[1]);
  return Number.isFinite(await cpuSeconds(pid)) ? pid : undefined;
}

/**
 * CPU seconds used by a changing set of processes between {@link start} and
 * the last {@link sample}: processes first seen after the start count from 0
 * (a new PostgreSQL backend has used next to nothing when it is first seen).
 */
export class CpuMeter {
  readonly #first = new Map<number, number>();
  readonly #last = new Map<number, number>();

  /** Records the starting CPU time of `pids`. */
  async start(pids: readonly number[]): Promise<void> {
    for (const pid of pids) {
      const s = await cpuSeconds(pid);
      if (Number.isFinite(s)) this.#first.set(pid, s), this.#last.set(pid, s);
    }
  }

  /** Records the current CPU time of `pids` (call it last just before they exit). */
  async sample(pids: readonly number[]): Promise<void> {
    for (const pid of pids) {
      const s = await cpuSeconds(pid);
      if (!Number.isFinite(s)) continue;
      if (!this.#first.has(pid)) this.#first.set(pid, 0);
      this.#last.set(pid, s);
    }
  }

  /** CPU seconds used in total since the start (NaN when nothing was measured). */
  get seconds(): number {
    if (this.#last.size === 0) return NaN;
    let sum = 0;
    for (const [pid, last] of this.#last) sum += last - this.#first.get(pid)!;
    return sum;
  }
}
