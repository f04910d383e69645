/**
 * compose.yaml and the systemd unit, checked as text: no container engine or
 * systemd runs where the tests run. What they must keep: health checks, the
 * start order, a stop grace period above the shutdown deadline, no restart
 * after a configuration error (systemd), the settings file.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../src/config/load.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
/** SHUTDOWN_TIMEOUT_SEC's default, from the configuration itself. */
const SHUTDOWN_SEC = loadConfig({}).shutdownTimeoutMs / 1000;
/** After the deadline, src/cli/run.ts gives stuck work 3 s more before it exits. */
const WATCHDOG_SEC = 3;

/**
 * The lines of the block under `path` in an indented YAML text (block style,
 * two-space indents, as compose.yaml is written), without their common indent.
 * @throws {assert.AssertionError} when a key of the path is missing.
 */
export function yamlBlock(text: string, path: readonly string[]): string[] {
  let lines = text.split("\n").filter((l) => l.trim() !== "" && !l.trim().startsWith("#"));
  for (const key of path) {
    const at = lines.findIndex((l) => l.startsWith(`${key}:`) || l.startsWith(`"${key}":`));
    assert.ok(at >= 0, `no ${path.join(".")} (at ${key}) in:\n${lines.join("\n")}`);
    const block: string[] = [];
    for (const line of lines.slice(at + 1)) {
      if (!line.startsWith(" ")) break;
      block.push(line);
    }
    const indent = Math.min(...block.map((l) => l.length - l.trimStart().length));
    lines = block.map((l) => l.slice(indent));
  }
  return lines;
}

/** The value of `key: value` among the top-level lines of a block, unquoted. */
function yamlValue(block: readonly string[], key: string): string | undefined {
  const line = block.find((l) => l.startsWith(`${key}:`));
  return line?.slice(key.length + 1).trim().replace(/^"(.*)"$/, "$1");
}

/** Top-level keys of a block. */
function yamlKeys(block: readonly string[]): string[] {
  return block.filter((l) => /^[\w"-][^:]*:/.test(l)).map((l) => l.slice(0, l.indexOf(":")).replaceAll('"', ""));
}

/** Seconds of a Compose duration such as `40s`, `1m30s`. */
function seconds(duration: string): number {
  const m = /^(?:(\d+)m)?(?:(\d+)s)?$/.exec(duration);
  assert.ok(m && duration !== "", `a duration like 40s: ${duration}`);
  return Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0);
}

Deno.test("yamlBlock and yamlValue read the block style compose.yaml is written in", () => {
  const text = 'a:\n  b:\n    c: 1\n    d: "x"\n  e:\n    - f\n# note\ng: 2\n';
  assert.deepEqual(yamlBlock(text, ["a", "b"]), ["c: 1", 'd: "x"']);
  assert.equal(yamlValue(yamlBlock(text, ["a", "b"]), "d"), "x");
  assert.deepEqual(yamlKeys(yamlBlock(text, ["a"])), ["b", "e"]);
  assert.throws(() => yamlBlock(text, ["a", "z"]), /no a\.z/);
  assert.equal(seconds("1m30s"), 90);
});

Deno.test("compose.yaml: Redis, TimescaleDB and db-writer, healthy before it starts, drained before it is killed", () => {
  const text = Deno.readTextFileSync(`${ROOT}compose.yaml`);
  assert.deepEqual(yamlKeys(yamlBlock(text, ["services"])).sort(), ["db-writer", "redis", "timescaledb"]);

  const redis = yamlBlock(text, ["services", "redis"]);
  assert.match(yamlValue(redis, "image") ?? "", /^redis:\d/, "the official Redis image, a pinned major");
  assert.match(
    yamlBlock(text, ["services", "redis", "healthcheck"]).join("\n"),
    /test: \["CMD", "redis-cli", "ping"\]/,
  );

  const tsdb = yamlBlock(text, ["services", "timescaledb"]);
  const image = /^timescale\/timescaledb:[\w.-]*-pg(\d+)$/.exec(yamlValue(tsdb, "image") ?? "");
  assert.ok(image, "the TimescaleDB image, with its PostgreSQL major in the tag");
  assert.ok(Number(image[1]) >= 16, `a current PostgreSQL: pg${image[1]}`);
  assert.match(yamlBlock(text, ["services", "timescaledb", "healthcheck"]).join("\n"), /pg_isready/);
  assert.ok(
    yamlBlock(text, ["services", "timescaledb", "volumes"]).some((l) => /^- \S+:\/var\/lib\/postgresql\/data$/.test(l)),
    "the database lives in a volume",
  );

  const writer = yamlBlock(text, ["services", "db-writer"]);
  assert.equal(yamlValue(writer, "build"), ".", "built from the Dockerfile beside it");
  assert.deepEqual(yamlBlock(text, ["services", "db-writer", "env_file"]), ["- path: .env", "  required: false"]);
  const env = yamlBlock(text, ["services", "db-writer", "environment"]);
  assert.equal(yamlValue(env, "REDIS_HOST"), "redis");
  assert.equal(yamlValue(env, "REDIS_URL"), "", "a REDIS_URL from .env must not win over REDIS_HOST");
  assert.match(yamlValue(env, "DATABASE_URL") ?? "", /^postgres:\/\/[^@]+@timescaledb:5432\/\w+$/);
  assert.equal(yamlValue(env, "ENABLE_TIMESCALE"), "true");
  for (const dep of ["redis", "timescaledb"]) {
    assert.equal(
      yamlValue(yamlBlock(text, ["services", "db-writer", "depends_on", dep]), "condition"),
      "service_healthy",
    );
  }
  assert.ok(yamlBlock(text, ["services", "db-writer", "ports"]).includes('- "9464:9464"'));
  const grace = seconds(yamlValue(writer, "stop_grace_period") ?? "");
  assert.ok(
    grace > SHUTDOWN_SEC + WATCHDOG_SEC,
    `stop_grace_period ${grace} s must exceed SHUTDOWN_TIMEOUT_SEC's default ${SHUTDOWN_SEC} s + ${WATCHDOG_SEC} s`,
  );
  assert.match(
    yamlBlock(text, ["services", "db-writer", "healthcheck"]).join("\n"),
    /test: \["CMD", "\/usr\/local\/bin\/db-writer", "health"\]/,
  );
  assert.equal(yamlValue(writer, "restart"), "unless-stopped");
  assert.match(
    Deno.readTextFileSync(`${ROOT}Dockerfile`),
    /COPY --from=build \/app\/dist\/db-writer \/usr\/local\/bin\/db-writer/,
  );
});

/** `Key=value` lines of one `[Section]` of a systemd unit (later lines win, as in systemd). */
function unitSection(text: string, section: string): Map<string, string> {
  const out = new Map<string, string>();
  let current = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const head = /^\[(.+)\]$/.exec(line);
    if (head) current = head[1]!;
    else if (current === section && line.includes("=")) {
      out.set(line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1));
    }
  }
  return out;
}

Deno.test("systemd unit: restarts after a failure, never after a configuration error, drains before the kill, hardened", () => {
  const text = Deno.readTextFileSync(`${ROOT}deploy/systemd/db-writer.service`);
  const service = unitSection(text, "Service");
  assert.match(service.get("ExecStart") ?? "", /^\/usr\/local\/bin\/db-writer run$/);
  assert.equal(service.get("Restart"), "on-failure");
  assert.ok((service.get("RestartPreventExitStatus") ?? "").split(/\s+/).includes("2"), "exit 2 is not restarted");
  assert.equal(service.get("KillSignal"), "SIGTERM", "SIGTERM drains");
  const stop = Number(service.get("TimeoutStopSec"));
  assert.ok(
    stop > SHUTDOWN_SEC + WATCHDOG_SEC,
    `TimeoutStopSec ${stop} must exceed SHUTDOWN_TIMEOUT_SEC's default ${SHUTDOWN_SEC} s + ${WATCHDOG_SEC} s`,
  );
  assert.equal(service.get("WorkingDirectory"), "/etc/db-writer", "where .env is read");
  assert.ok(service.get("User") !== undefined || service.get("DynamicUser") === "yes", "not root");
  assert.notEqual(service.get("User"), "root");
  for (
    const [key, value] of [["NoNewPrivileges", "yes"], ["ProtectSystem", "strict"], ["ProtectHome", "yes"], [
      "PrivateTmp",
      "yes",
    ]]
  ) {
    assert.equal(service.get(key!), value, `${key}=${value}`);
  }
  assert.ok(!service.has("MemoryDenyWriteExecute"), "V8 needs to write machine code: no MemoryDenyWriteExecute");
  assert.match(service.get("MemoryMax") ?? "", /^\d+[MG]$/, "a memory ceiling");
  assert.equal(unitSection(text, "Install").get("WantedBy"), "multi-user.target");
});
