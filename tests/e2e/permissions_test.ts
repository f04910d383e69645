/**
 * Least privilege: the service's flags live in one file, service.flags; the
 * start, dev, migrate and cli tasks pass it whole (`$(cat service.flags)`) and
 * the compile tasks build with it (tools/compile.ts reads it), so all of them
 * grant one and the same narrow permission set. Its env allow-list is exactly
 * what the configuration and the libraries read, and the service does its
 * whole job with exactly those flags (the end-to-end tests all run with them
 * too, see _helpers/process.ts startTaskArgs).
 */
import assert from "node:assert/strict";
import { CONFIG_VARIABLES, LIBRARY_VARIABLES } from "../../src/config/settings.ts";
import { addEntries, pendingCount } from "../_helpers/streams.ts";
import { createWorld } from "../_helpers/world.ts";
import { message, runCli, spawnService, stopService } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { rowCounts } from "../_helpers/rows.ts";
import { readServiceFlags } from "../../tools/service_flags.ts";
import { compileArgs } from "../../tools/compile.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const TASKS: Record<string, string> = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`)).tasks;
const FLAGS = readServiceFlags(ROOT);
/** Tasks that run the service, and what each runs: `deno run [--watch] $(cat service.flags) main.ts <rest>`. */
const RUN_TASKS: Record<string, string> = {
  start: "deno run $(cat service.flags) main.ts run",
  dev: "deno run --watch $(cat service.flags) main.ts run",
  migrate: "deno run $(cat service.flags) main.ts migrate",
  cli: "deno run $(cat service.flags) main.ts",
};
/** Tasks that build the service: tools/compile.ts puts service.flags into `deno compile`. */
const COMPILE_TASKS = ["compile", "compile:x86_64", "compile:aarch64"];

/** A permission-like flag (`--allow-*`, `--deny-*`, `--ignore-*`, `-A`, `--no-prompt`, `--v8-flags`). */
const PERMISSION = /^(--(allow|deny|ignore)-|-A$|--no-prompt$|--v8-flags=)/;

function flagValue(flags: readonly string[], name: string): string[] | undefined {
  const flag = flags.find((f) => f === name || f.startsWith(`${name}=`));
  if (flag === undefined) return undefined;
  return flag.includes("=") ? flag.slice(flag.indexOf("=") + 1).split(",") : [];
}

Deno.test("start, dev, migrate, cli and every compile task take their permissions and heap bounds from service.flags alone", () => {
  const v8 = FLAGS.find((f) => f.startsWith("--v8-flags="));
  assert.match(v8 ?? "", /--max-old-space-size=\d+/, "service.flags bounds the heap (see README, Memory)");
  assert.match(v8 ?? "", /--max-semi-space-size=\d+/, "service.flags bounds the young generation");
  assert.deepEqual(FLAGS.filter((f) => !PERMISSION.test(f)), [], "service.flags holds permission and V8 flags only");
  for (const [task, command] of Object.entries(RUN_TASKS)) {
    assert.equal(TASKS[task], command, `deno.json's ${task} task`);
  }
  for (const task of COMPILE_TASKS) {
    const command = TASKS[task];
    assert.ok(command, `deno.json has a ${task} task`);
    assert.match(command, /^deno run (\S+ )*tools\/compile\.ts( |$)/, `${task} builds through tools/compile.ts`);
    const own = command.split(/\s+/).slice(command.split(/\s+/).indexOf("tools/compile.ts") + 1);
    assert.deepEqual(own.filter((w) => PERMISSION.test(w)), [], `${task} adds no service flag of its own`);
  }
  // What tools/compile.ts gives deno compile: exactly the service flags, before anything else.
  const args = compileArgs(FLAGS, { target: "aarch64-unknown-linux-gnu", output: "dist/x" });
  assert.equal(args[0], "compile");
  assert.deepEqual(args.slice(1, 1 + FLAGS.length), FLAGS);
  assert.deepEqual(args.slice(1 + FLAGS.length).filter((w) => PERMISSION.test(w)), [], "and no other permission");
});

Deno.test("service.flags grants nothing of a kind wholesale", () => {
  for (const f of FLAGS) {
    assert.ok(
      !["-A", "--allow-all", "--allow-write", "--allow-run", "--allow-ffi", "--allow-import"].includes(
        f.split("=")[0]!,
      ),
      f,
    );
  }
  for (const kind of ["--allow-env", "--allow-read", "--allow-sys"]) {
    const value = flagValue(FLAGS, kind);
    assert.ok(value !== undefined && value.length > 0, `${kind} must name what it allows`);
  }
  assert.ok(FLAGS.includes("--no-prompt"), "a missing permission must fail, not wait for a prompt");
  assert.deepEqual(flagValue(FLAGS, "--allow-sys"), ["hostname"], "only the hostname (CONSUMER_NAME's default)");
  assert.deepEqual(
    flagValue(FLAGS, "--allow-read"),
    [".env", "db/migrations", "certs", "/etc/db-writer"],
    "only .env, the migrations and the two places for TLS files",
  );
});

Deno.test("--allow-env lists exactly the configuration's variables and the libraries' (LIBRARY_VARIABLES)", () => {
  const allowed = new Set(flagValue(FLAGS, "--allow-env") ?? []);
  const wanted = new Set([...CONFIG_VARIABLES, ...LIBRARY_VARIABLES]);
  const missing = [...wanted].filter((v) => !allowed.has(v));
  const extra = [...allowed].filter((v) => !wanted.has(v));
  assert.deepEqual(missing, [], `add ${missing.join(",")} to --allow-env in service.flags`);
  assert.deepEqual(extra, [], `${extra.join(",")} is allowed in service.flags but read by nothing; remove it`);
  assert.ok(
    FLAGS.includes("--ignore-env"),
    "--ignore-env: variables outside the list read as unset instead of failing (the debug module lists them all)",
  );
});

Deno.test("with exactly the start task's permissions: read → write → ack, .env honoured, other variables ignored", async () => {
  await using world = await createWorld();
  const cwd = await Deno.makeTempDir({ prefix: "db-writer-perm-" });
  try {
    await Deno.writeTextFile(`${cwd}/.env`, "CONSUMER_NAME=from-dotenv\n");
    const stream = `${world.prefix}:gw-1:temperature`;
    await using svc = spawnService(["run"], {
      ...world.env(),
      // Honoured, these would break the run: PGSSL=require against a server without TLS,
      // DEBUG=* printing every Redis command to stderr.
      PGSSL: "require",
      DEBUG: "*",
    }, { cwd });
    const consuming = await svc.waitForLog(message("consuming"), 30_000);
    assert.equal(consuming.consumer, "from-dotenv", ".env in the working directory is read");
    const ids = await addEntries(world.redis, stream, [
      { value: "21.5", timestamp: "2026-11-28T10:00:00Z" },
      { value: "21.7", timestamp: "2026-11-28T10:00:01Z" },
    ]);
    assert.equal(ids.length, 2);
    await waitFor(async () => (await rowCounts(world)).rows === 2, { timeoutMs: 30_000, what: "two rows written" });
    await waitFor(async () => (await pendingCount(world.redis, stream, world.group)) === 0, {
      timeoutMs: 30_000,
      what: "entries acked",
    });
    assert.equal(await stopService(svc), 0, svc.errLines.join("\n"));
    const output = [...svc.lines, ...svc.errLines].join("\n");
    assert.doesNotMatch(output, /NotCapable|PermissionDenied|Requires \w+ access/);
    assert.deepEqual(svc.errLines.filter((l) => l.trim() !== ""), [], "nothing on stderr (no debug output)");
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("with exactly the start task's permissions: migrate, health, dlq and simulate work", async (t) => {
  await using world = await createWorld();
  const env = world.env({ STREAM_PATTERN: `${world.prefix}:*` });
  const ok = (out: { code: number; stdout: string; stderr: string }, what: string) => {
    assert.doesNotMatch(out.stdout + out.stderr, /NotCapable|PermissionDenied|Requires \w+ access/, what);
    assert.equal(out.code, 0, `${what}: ${out.stderr}`);
  };
  await t.step("migrate up, status", async () => {
    ok(await runCli(["migrate", "up"], env), "migrate up");
    const status = await runCli(["migrate", "status"], env);
    ok(status, "migrate status");
    assert.match(status.stdout, /0001_create_sensor_readings\s+applied/);
  });
  await t.step("health", async () => {
    const out = await runCli(["health"], env);
    ok(out, "health");
    assert.deepEqual(JSON.parse(out.stdout), {
      running: null,
      redis: true,
      database: true,
      ready: true,
      lag: null,
      stats: null,
    });
  });
  await t.step("simulate, dlq list", async () => {
    ok(await runCli(["simulate", "--count", "3", "--prefix", world.prefix, "--seed", "1"], env), "simulate");
    ok(await runCli(["dlq", "list"], env), "dlq list");
  });
});

Deno.test("with exactly the start task's permissions: TLS files are read from ./certs, elsewhere a clear config error", async () => {
  const cwd = await Deno.makeTempDir({ prefix: "db-writer-perm-" });
  const outside = await Deno.makeTempDir({ prefix: "db-writer-perm-outside-" });
  try {
    const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    await Deno.mkdir(`${cwd}/certs`);
    await Deno.writeTextFile(`${cwd}/certs/ca.pem`, pem);
    await Deno.writeTextFile(`${outside}/ca.pem`, pem);
    const env = { REDIS_TLS: "true", REDIS_TLS_CA_FILE: `${outside}/ca.pem`, HTTP_PORT: "0" };
    const refused = await runCli(["health"], env, { cwd });
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(
      refused.stderr,
      /REDIS_TLS_CA_FILE: .*may read TLS files only under \.\/certs \(beside \.env\) or \/etc\/db-writer/,
    );
    // Inside ./certs the file passes the configuration check (the connection then fails: no TLS server here).
    const inside = await runCli(["health"], { ...env, REDIS_TLS_CA_FILE: `${cwd}/certs/ca.pem`, REDIS_PORT: "1" }, {
      cwd,
    });
    assert.doesNotMatch(inside.stderr, /REDIS_TLS_CA_FILE|NotCapable|Requires read access/, inside.stderr);
    assert.equal(inside.code, 1, inside.stderr);
  } finally {
    await Deno.remove(cwd, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});
