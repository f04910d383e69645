/**
 * End-to-end tests of the service's outer surface: configuration errors,
 * `--help`/`--version`/unknown commands, the HTTP endpoints and the `health`
 * command, against the real program, Redis and PostgreSQL.
 */
import assert from "node:assert/strict";
import { addEntries } from "../_helpers/streams.ts";
import { createWorld } from "../_helpers/world.ts";
import { DATABASE_URL, REDIS_URL } from "../_helpers/services.ts";
import { message, runCli, spawnService, stopService } from "../_helpers/process.ts";
import { waitFor } from "../_helpers/wait.ts";
import { freePort } from "../_helpers/net.ts";
import { rowCounts } from "../_helpers/rows.ts";
import { VERSION } from "../../src/version.ts";

/** The problem lines of a configuration error (stderr lines after the header, trimmed). */
function problemLines(stderr: string): string[] {
  const lines = stderr.split("\n").filter((l) => l.trim() !== "");
  assert.match(lines[0] ?? "", /^db-writer: cannot start, the configuration has \d+ problem\(s\):$/);
  return lines.slice(1).map((l) => l.trim());
}

/** A minimal good environment (the services exist, but a config error must stop before any connection). */
const base = { REDIS_URL, DATABASE_URL, HTTP_PORT: "0" };

Deno.test("config errors: exit 2, one line per problem naming each variable and its value", async () => {
  const out = await runCli(["run"], { ...base, BATCH_SIZE: "abc", LOG_LEVEL: "loud" });
  assert.equal(out.code, 2, out.stderr);
  assert.equal(out.stdout, "", "nothing on stdout: no log line, no connection attempt");
  const lines = problemLines(out.stderr);
  assert.equal(lines.length, 2, out.stderr);
  assert.match(out.stderr, /configuration has 2 problem\(s\)/);
  const batch = lines.find((l) => l.startsWith("BATCH_SIZE:"));
  const level = lines.find((l) => l.startsWith("LOG_LEVEL:"));
  assert.ok(batch, out.stderr);
  assert.ok(level, out.stderr);
  assert.match(batch, /"abc"/);
  assert.match(batch, /integer/);
  assert.match(level, /"loud"/);
  assert.match(level, /DEBUG, INFO, WARNING, ERROR/);
});

Deno.test("config errors never print a password", async (t) => {
  const secret = "Sup3rS3cretPw";
  const cases: [string, Record<string, string>][] = [
    ["DATABASE_URL with the wrong scheme", { DATABASE_URL: `mysql://admin:${secret}@db.example:5432/app` }],
    ["DATABASE_URL with a bad port", { DATABASE_URL: `postgres://admin:${secret}@db.example:notaport/app` }],
    ["DATABASE_URL with a space in the host", { DATABASE_URL: `postgres://admin:${secret}@db example:5432/app` }],
    ["REDIS_URL with a bad database number", { REDIS_URL: `redis://:${secret}@cache.example:6379/99` }],
    [
      "DATABASE_URL whose password holds an unencoded '#'",
      { DATABASE_URL: `postgres://admin:${secret}#x@db.example:5432/app` },
    ],
    [
      "DATABASE_URL whose password holds an unencoded '?'",
      { DATABASE_URL: `postgres://admin:${secret}?x@db.example:5432/app` },
    ],
    ["REDIS_URL whose password holds an unencoded '#'", { REDIS_URL: `redis://:${secret}#x@cache.example:6379/0` }],
    ["REDIS_PASSWORD with another variable wrong", { REDIS_PASSWORD: secret, REDIS_PORT: "99999" }],
  ];
  for (const [name, env] of cases) {
    await t.step(name, async () => {
      const vars = { ...base, ...env };
      if ("REDIS_PASSWORD" in env) delete (vars as Record<string, string>).REDIS_URL;
      const out = await runCli(["run"], vars);
      assert.equal(out.code, 2, out.stderr);
      const variable = Object.keys(env).find((k) => k !== "REDIS_PASSWORD")!;
      assert.ok(problemLines(out.stderr).some((l) => l.startsWith(`${variable}:`)), out.stderr);
      assert.ok(!(out.stdout + out.stderr).includes(secret), `the password leaked:\n${out.stderr}`);
    });
  }
});

Deno.test("malformed percent-encoding in any URL setting: exit 2 naming the setting, password masked", async (t) => {
  const secret = "Sup3rS3cretPw";
  const cases: [string, Record<string, string>][] = [
    ["REDIS_URL password", { REDIS_URL: `redis://:${secret}%zz@127.0.0.1:6379/0` }],
    ["REDIS_URL user", { REDIS_URL: `redis://u%zz:${secret}@127.0.0.1:6379/0` }],
    ["REDIS_URL password, not UTF-8", { REDIS_URL: `redis://:${secret}%ff@127.0.0.1:6379/0` }],
    ["DATABASE_URL password", { DATABASE_URL: `postgres://postgres:${secret}%zz@127.0.0.1:5432/postgres` }],
    ["DATABASE_URL user", { DATABASE_URL: `postgres://p%zz:${secret}@127.0.0.1:5432/postgres` }],
    ["DATABASE_URL database", { DATABASE_URL: `postgres://postgres:${secret}@127.0.0.1:5432/p%zz` }],
    ["DATABASE_URL parameter", { DATABASE_URL: `postgres://postgres:${secret}@127.0.0.1:5432/postgres?x=%zz` }],
  ];
  for (const command of [["run"], ["health"], ["dlq", "list"], ["migrate", "status"]]) {
    for (const [name, env] of cases) {
      await t.step(`${command.join(" ")}: ${name}`, async () => {
        const out = await runCli(command, { ...base, ...env });
        assert.equal(out.code, 2, out.stderr);
        const variable = Object.keys(env)[0]!;
        const line = problemLines(out.stderr).find((l) => l.startsWith(`${variable}:`));
        assert.ok(line, out.stderr);
        assert.match(line, /%-escape/);
        assert.doesNotMatch(out.stderr, /URIError/);
        assert.ok(!(out.stdout + out.stderr).includes(secret), `the password leaked:\n${out.stderr}`);
      });
    }
  }
});

Deno.test("a running service never prints the passwords of its URLs", async () => {
  await using world = await createWorld();
  const secret = "Sup3rS3cretPw";
  const pg = new URL(DATABASE_URL);
  pg.password = secret; // trust auth: the server ignores it
  const redis = new URL(REDIS_URL);
  redis.password = `${secret}2`; // Redis has no password: ioredis warns and goes on
  await using svc = spawnService(
    ["run"],
    world.env({ DATABASE_URL: pg.href, REDIS_URL: redis.href, LOG_LEVEL: "debug" }),
  );
  await svc.waitForLog(message("consuming"), 30_000);
  await addEntries(world.redis, `${world.prefix}:esp32:temperature`, [{
    value: "1",
    timestamp: "2026-11-28T10:00:00Z",
  }]);
  await waitFor(async () => (await rowCounts(world)).rows === 1, { timeoutMs: 20_000, what: "1 row" });
  assert.equal(await stopService(svc), 0);
  const all = [...svc.lines, ...svc.errLines].join("\n");
  assert.ok(!all.includes(secret), `a password leaked:\n${all.split("\n").filter((l) => l.includes(secret))}`);
  assert.ok(all.includes("***"), "the masked form is logged instead");
});

Deno.test("--help and --version exit 0; an unknown command exits 2", async (t) => {
  await t.step("--help", async () => {
    const out = await runCli(["--help"], {});
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /^db-writer /);
    assert.match(out.stdout, /Usage: db-writer/);
    for (const cmd of ["run", "migrate up", "migrate down", "migrate status", "health", "dlq list", "simulate"]) {
      assert.ok(out.stdout.includes(cmd), `help mentions ${cmd}`);
    }
    assert.equal(out.stderr, "");
  });
  await t.step("-h", async () => {
    const out = await runCli(["-h"], {});
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /Usage: db-writer/);
  });
  await t.step("--version", async () => {
    const out = await runCli(["--version"], {});
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, `db-writer ${VERSION}\n`);
    assert.match(VERSION, /^\d+\.\d+\.\d+/);
  });
  await t.step("-V", async () => {
    const out = await runCli(["-V"], {});
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, `db-writer ${VERSION}\n`);
  });
  await t.step("unknown command", async () => {
    const out = await runCli(["frobnicate"], { ...base });
    assert.equal(out.code, 2);
    assert.match(out.stderr, /unknown command "frobnicate"/);
    assert.equal(out.stdout, "");
  });
  await t.step("run with an argument", async () => {
    const out = await runCli(["run", "now"], { ...base });
    assert.equal(out.code, 2);
    assert.match(out.stderr, /run takes no arguments/);
  });
});

Deno.test("HTTP /healthz, /readyz, /metrics and the health command", async (t) => {
  await using world = await createWorld();
  const port = freePort();
  await using svc = spawnService(["run"], world.env({ HTTP_PORT: String(port), HTTP_HOST: "127.0.0.1" }));
  await svc.waitForLog(message("consuming"), 30_000);
  await svc.waitForLog(message("http listening"), 10_000);
  const url = (path: string) => `http://127.0.0.1:${port}${path}`;

  const stream = `${world.prefix}:esp32:temperature`;
  await addEntries(world.redis, stream, [
    { value: "1", timestamp: "2026-11-28T10:00:00Z" },
    { value: "2", timestamp: "2026-11-28T10:00:01Z" },
    { value: "3", timestamp: "2026-11-28T10:00:02Z" },
  ]);
  await waitFor(async () => (await rowCounts(world)).rows === 3, { timeoutMs: 20_000, what: "3 rows" });

  await t.step("/healthz", async () => {
    const res = await fetch(url("/healthz"));
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: "ok" });
  });

  await t.step("/readyz", async () => {
    // The stats are updated after the ack, a moment after the rows are visible.
    const body = await waitFor(async () => {
      const res = await fetch(url("/readyz"));
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /application\/json/);
      const b = await res.json();
      return b.stats?.messages_written === 3 ? b : false;
    }, { timeoutMs: 10_000, what: "/readyz stats with 3 rows written" });
    assert.equal(body.running, true);
    assert.equal(body.redis, true);
    assert.equal(body.database, true);
    assert.equal(body.stats.messages_read, 3);
    assert.equal(body.stats.messages_failed, 0);
    assert.equal(typeof body.stats.uptime_seconds, "number");
  });

  await t.step("/metrics", async () => {
    const res = await fetch(url("/metrics"));
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
    const text = await res.text();
    assert.match(text, /^# TYPE db_writer_rows_written_total counter$/m);
    assert.match(text, /^db_writer_rows_written_total 3$/m);
    assert.match(text, /^db_writer_messages_read_total 3$/m);
    assert.match(text, /^db_writer_running 1$/m);
  });

  await t.step("an unknown path is 404", async () => {
    const res = await fetch(url("/nope"));
    assert.equal(res.status, 404);
    await res.body?.cancel();
  });

  await t.step("db-writer health while the service runs: prints the JSON, exits 0", async () => {
    const out = await runCli(["health"], world.env({ HTTP_PORT: String(port), HTTP_HOST: "127.0.0.1" }));
    assert.equal(out.code, 0, out.stderr + out.stdout);
    const report = JSON.parse(out.stdout.trim());
    assert.equal(report.running, true);
    assert.equal(report.redis, true);
    assert.equal(report.database, true);
    assert.equal(report.stats.messages_written, 3);
    assert.equal(report.ready, true, "the instance's own readiness, as its /readyz says");
    assert.ok(report.lag === null || typeof report.lag === "number");
    assert.deepEqual(Object.keys(report).sort(), ["database", "lag", "ready", "redis", "running", "stats"]);
  });

  await t.step("db-writer health with Redis unreachable: redis false, exit 1", async () => {
    const out = await runCli(["health"], world.env({ REDIS_URL: "redis://127.0.0.1:1/0", HTTP_PORT: "0" }));
    assert.equal(out.code, 1, out.stderr + out.stdout);
    const report = JSON.parse(out.stdout.trim());
    assert.equal(report.redis, false);
    assert.equal(report.database, true);
  });

  await t.step("db-writer health with PostgreSQL unreachable: database false, exit 1", async () => {
    const out = await runCli(
      ["health"],
      world.env({ DATABASE_URL: "postgres://postgres@127.0.0.1:1/test", HTTP_PORT: "0" }),
    );
    assert.equal(out.code, 1, out.stderr + out.stdout);
    const report = JSON.parse(out.stdout.trim());
    assert.equal(report.redis, true);
    assert.equal(report.database, false);
  });

  const code = await stopService(svc);
  assert.equal(code, 0);

  await t.step("db-writer health when no instance answers on HTTP_PORT: running false, exit 1", async () => {
    const out = await runCli(["health"], world.env({ HTTP_PORT: String(port), HTTP_HOST: "127.0.0.1" }));
    assert.equal(out.code, 1, out.stderr + out.stdout);
    const report = JSON.parse(out.stdout.trim());
    assert.equal(report.running, false);
    assert.equal(report.redis, true);
    assert.equal(report.database, true);
  });
});
