/**
 * Throwaway TLS servers for the TLS and secrets tests: a CA and certificates
 * made with openssl, a `redis-server` listening only on a TLS port with an
 * ACL user, and a PostgreSQL cluster (initdb) that accepts only TLS
 * connections with a SCRAM password. Everything lives in a temporary
 * directory that disposal removes, servers stopped first.
 */
import postgres from "postgres";
import { Redis } from "ioredis";
import { freePort } from "./net.ts";

/** The files of a small PKI. */
export interface Pki {
  readonly dir: string;
  /** The CA that signed the server and client certificates. */
  readonly ca: string;
  /** Another CA, which signed nothing here. */
  readonly wrongCa: string;
  /** Server certificate for `localhost` and `127.0.0.1` (not `127.0.0.2`). */
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

async function run(cmd: string, args: string[], opts: { cwd?: string; stdin?: string } = {}): Promise<string> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: opts.cwd,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed (exit ${out.code}):\n${text}`);
  return text;
}

async function commandWorks(cmd: string, args: string[]): Promise<boolean> {
  try {
    return (await new Deno.Command(cmd, { args, stdout: "null", stderr: "null", stdin: "null" }).output()).success;
  } catch {
    return false;
  }
}

/** The PostgreSQL programs' directory (initdb, pg_ctl), or undefined. */
async function pgBinDir(): Promise<string | undefined> {
  try {
    const dir = (await run("pg_config", ["--bindir"])).trim();
    if ((await Deno.stat(`${dir}/initdb`)).isFile) return dir;
  } catch {
    // fall through
  }
  for (const v of ["17", "16", "15", "14", "13"]) {
    try {
      if ((await Deno.stat(`/usr/lib/postgresql/${v}/bin/initdb`)).isFile) return `/usr/lib/postgresql/${v}/bin`;
    } catch {
      // next
    }
  }
  return undefined;
}

/** Why these tests cannot run here (a missing program), or undefined when they can. */
export async function missingTools(): Promise<string | undefined> {
  if (!await commandWorks("openssl", ["version"])) return "openssl is not installed";
  if (!await commandWorks("redis-server", ["--version"])) return "redis-server is not installed";
  if (!await pgBinDir()) return "PostgreSQL's initdb is not installed (pg_config --bindir, /usr/lib/postgresql/*/bin)";
  if (Deno.uid() === 0 && !await commandWorks("runuser", ["-u", "postgres", "--", "true"])) {
    return "running as root, but cannot run initdb as user postgres (runuser -u postgres)";
  }
  return undefined;
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** Makes a CA, a second (wrong) CA, a server certificate and a client certificate in `dir`. */
export async function makePki(dir: string): Promise<Pki> {
  const o = (args: string[]) => run("openssl", args, { cwd: dir });
  await Promise.all([
    o(["req", "-x509", ...EC, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=db-writer test CA"]),
    o(["req", "-x509", ...EC, "-keyout", "wrong.key", "-out", "wrong.crt", "-days", "2", "-subj", "/CN=other CA"]),
    o(["req", "-new", ...EC, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]),
    o(["req", "-new", ...EC, "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=db-writer"]),
  ]);
  await Deno.writeTextFile(
    `${dir}/server.ext`,
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
  );
  await Deno.writeTextFile(`${dir}/client.ext`, "extendedKeyUsage=clientAuth\n");
  const sign = (name: string, serial: string) =>
    o([
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-set_serial",
      serial,
      "-days",
      "2",
      "-extfile",
      `${name}.ext`,
      "-out",
      `${name}.crt`,
    ]);
  await Promise.all([sign("server", "1001"), sign("client", "1002")]);
  return {
    dir,
    ca: `${dir}/ca.crt`,
    wrongCa: `${dir}/wrong.crt`,
    serverCert: `${dir}/server.crt`,
    serverKey: `${dir}/server.key`,
    clientCert: `${dir}/client.crt`,
    clientKey: `${dir}/client.key`,
  };
}

async function waitForPort(port: number, hostname: string, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      (await Deno.connect({ hostname, port })).close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`${what} did not listen on ${hostname}:${port} within ${timeoutMs} ms`);
}

/** A running TLS-only Redis with one ACL user (the default user is off). */
export interface TlsRedis extends AsyncDisposable {
  readonly port: number;
  /** A connection as the ACL user, verifying the server with the test CA and presenting the client certificate. */
  client(): Redis;
}

/**
 * Starts `redis-server` on a free TLS port (plain port off) on 127.0.0.1 and
 * 127.0.0.2, requiring a client certificate and the ACL user's password.
 */
export async function startTlsRedis(pki: Pki, user: string, password: string): Promise<TlsRedis> {
  const dir = await Deno.makeTempDir({ prefix: "db-writer-redis-tls-" });
  await Deno.writeTextFile(`${dir}/redis.conf`, `user ${user} on >${password} ~* &* +@all\nuser default off\n`);
  const port = freePort();
  const child = new Deno.Command("redis-server", {
    args: [
      `${dir}/redis.conf`,
      "--port",
      "0",
      "--tls-port",
      String(port),
      "--bind",
      "127.0.0.1 127.0.0.2",
      "--tls-cert-file",
      pki.serverCert,
      "--tls-key-file",
      pki.serverKey,
      "--tls-ca-cert-file",
      pki.ca,
      "--tls-auth-clients",
      "yes",
      "--save",
      "",
      "--appendonly",
      "no",
      "--dir",
      dir,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const collected = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) output += chunk;
  })();
  child.stderr.cancel();
  const stop = async () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await child.status;
    await collected.catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    await Promise.race([
      waitForPort(port, "127.0.0.1", "redis-server (TLS)"),
      child.status.then((s) => {
        throw new Error(`redis-server exited with ${s.code} before listening:\n${output}`);
      }),
    ]);
  } catch (err) {
    await stop();
    throw err;
  }
  const ca = Deno.readTextFileSync(pki.ca);
  const cert = Deno.readTextFileSync(pki.clientCert);
  const key = Deno.readTextFileSync(pki.clientKey);
  return {
    port,
    client() {
      const r = new Redis({
        host: "127.0.0.1",
        port,
        username: user,
        password,
        tls: { ca, cert, key },
        maxRetriesPerRequest: 1,
      });
      r.on("error", () => {});
      return r;
    },
    [Symbol.asyncDispose]: stop,
  };
}

/** A running PostgreSQL that accepts TCP connections only over TLS, with a SCRAM password. */
export interface TlsPostgres extends AsyncDisposable {
  readonly port: number;
  /** The database owned by the test user. */
  readonly database: string;
  /** A pool as the test user, over TLS verified with the test CA. */
  sql(): postgres.Sql;
}

/**
 * Creates and starts a throwaway cluster on a free port (127.0.0.1 and
 * 127.0.0.2) with ssl=on, `hostssl … scram-sha-256` only, and a role `user`
 * owning database `app`.
 */
export async function startTlsPostgres(pki: Pki, user: string, password: string): Promise<TlsPostgres> {
  const bin = await pgBinDir();
  if (!bin) throw new Error("initdb not found");
  const asRoot = Deno.uid() === 0;
  const as = (cmd: string, args: string[]) =>
    asRoot ? run("runuser", ["-u", "postgres", "--", cmd, ...args]) : run(cmd, args);
  const dir = await Deno.makeTempDir({ prefix: "db-writer-pg-tls-" });
  const data = `${dir}/data`;
  const port = freePort();
  await Deno.copyFile(pki.serverCert, `${dir}/server.crt`);
  await Deno.copyFile(pki.serverKey, `${dir}/server.key`);
  await Deno.chmod(`${dir}/server.key`, 0o600);
  if (asRoot) await run("chown", ["-R", "postgres:", dir]);
  let started = false;
  const stop = async () => {
    if (started) await as(`${bin}/pg_ctl`, ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    await as(`${bin}/initdb`, [
      "-D",
      data,
      "-U",
      "postgres",
      "--auth=trust",
      "-E",
      "UTF8",
      "--no-sync",
      "--no-instructions",
    ]);
    await Deno.writeTextFile(
      `${data}/postgresql.conf`,
      [
        `port = ${port}`,
        "listen_addresses = '127.0.0.1,127.0.0.2'",
        `unix_socket_directories = '${dir}'`,
        "ssl = on",
        `ssl_cert_file = '${dir}/server.crt'`,
        `ssl_key_file = '${dir}/server.key'`,
        "fsync = off",
        "synchronous_commit = off",
        "full_page_writes = off",
        "shared_buffers = 16MB",
        "max_connections = 40",
        "password_encryption = 'scram-sha-256'",
        "",
      ].join("\n"),
      { append: true },
    );
    await Deno.writeTextFile(
      `${data}/pg_hba.conf`,
      [
        "local all all trust",
        "hostssl all all 127.0.0.1/32 scram-sha-256",
        "hostssl all all 127.0.0.2/32 scram-sha-256",
        "host all all 0.0.0.0/0 reject",
        "",
      ].join("\n"),
    );
    await as(`${bin}/pg_ctl`, ["-D", data, "-l", `${dir}/log`, "-w", "-t", "60", "start"]);
    started = true;
    const psql = (db: string, sql: string) =>
      as(`${bin}/psql`, [
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        dir,
        "-p",
        String(port),
        "-U",
        "postgres",
        "-d",
        db,
        "-c",
        sql,
      ]);
    await psql("postgres", `CREATE ROLE "${user}" LOGIN PASSWORD '${password.replaceAll("'", "''")}'`);
    await psql("postgres", `CREATE DATABASE app OWNER "${user}"`);
  } catch (err) {
    const log = await Deno.readTextFile(`${dir}/log`).catch(() => "");
    await stop();
    throw new Error(`cannot start the TLS PostgreSQL: ${(err as Error).message}\n${log}`);
  }
  const ca = Deno.readTextFileSync(pki.ca);
  return {
    port,
    database: "app",
    sql() {
      return postgres({
        host: "127.0.0.1",
        port,
        user,
        password,
        database: "app",
        ssl: { ca },
        max: 2,
        onnotice: () => {},
      });
    },
    [Symbol.asyncDispose]: stop,
  };
}

/**
 * A working directory for db-writer runs with the test PKI in its `certs/`:
 * the only place under it the service may read TLS files (service.flags'
 * --allow-read). Remove `dir` when done.
 */
export async function pkiInServiceDir(): Promise<{ dir: string; pki: Pki }> {
  const dir = await Deno.makeTempDir({ prefix: "db-writer-pki-" });
  await Deno.mkdir(`${dir}/certs`);
  return { dir, pki: await makePki(`${dir}/certs`) };
}
