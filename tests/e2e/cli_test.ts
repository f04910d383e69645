/**
 * The command line: every command has a --help with examples; an unknown
 * command, option or flag prints a short usage on stderr and exits 2, before
 * anything connects. Run as `deno task start` runs (_helpers/process.ts runCli).
 */
import assert from "node:assert/strict";
import { DATABASE_URL, REDIS_URL } from "../_helpers/services.ts";
import { runCli } from "../_helpers/process.ts";
import { COMMANDS } from "../../src/cli/help.ts";

/** A usable environment; usage errors must not get as far as connecting. */
const env = { REDIS_URL, DATABASE_URL, HTTP_PORT: "0" };

Deno.test("every command has a --help (and -h, and help <command>) with examples", async (t) => {
  for (const command of COMMANDS) {
    await t.step(command, async () => {
      for (const args of [[command, "--help"], [command, "-h"], ["help", command]]) {
        const out = await runCli(args, {});
        assert.equal(out.code, 0, `${args.join(" ")}: ${out.stderr}`);
        assert.equal(out.stderr, "", args.join(" "));
        assert.match(out.stdout, new RegExp(`^Usage:\\s+db-writer (\\[)?${command}`), args.join(" "));
        assert.match(out.stdout, /\nExamples:\n {2}db-writer/, `${args.join(" ")} shows examples`);
      }
    });
  }
});

Deno.test("the top-level --help lists every command, examples and the exit codes", async () => {
  const out = await runCli(["--help"], {});
  assert.equal(out.code, 0, out.stderr);
  for (const command of COMMANDS) assert.match(out.stdout, new RegExp(`^ {2}${command}\\b`, "m"), command);
  assert.match(out.stdout, /\nExamples:\n/);
  assert.match(out.stdout, /Exit codes:\n\s+0 .*\n\s+1 .*(\n.*)*\n\s+2 /);
});

Deno.test("usage errors: a short usage on stderr, nothing on stdout, exit 2", async (t) => {
  const cases: [args: string[], problem: RegExp, usage: RegExp][] = [
    [["--bogus"], /unknown option "--bogus"/, /^Usage: db-writer \[run \| migrate/m],
    [["frobnicate"], /unknown command "frobnicate"/, /^Usage: db-writer \[run \| migrate/m],
    [["help", "frobnicate"], /help: unknown command "frobnicate"/, /^Usage: db-writer \[run/m],
    [["run", "--bogus"], /run takes no arguments, got --bogus/, /^Usage: db-writer \[run\]/m],
    [["health", "--bogus"], /health takes no arguments, got --bogus/, /^Usage: db-writer health/m],
    [["migrate"], /migrate: missing action/, /^Usage: db-writer migrate up \| down \[N\] \| status/m],
    [["migrate", "--bogus"], /migrate: unknown action "--bogus"/, /^Usage: db-writer migrate /m],
    [["migrate", "up", "3"], /migrate up: unexpected argument\(s\) 3/, /^Usage: db-writer migrate /m],
    [
      ["migrate", "down", "x"],
      /migrate down: N must be a positive whole number, got "x"/,
      /^Usage: db-writer migrate /m,
    ],
    [["dlq"], /dlq: missing subcommand/, /^Usage: db-writer dlq /m],
    [["dlq", "list", "--bogus"], /dlq list: Unknown option '--bogus'/, /^Usage: db-writer dlq /m],
    [["dlq", "replay", "--count", "many"], /--count must be a whole number/, /^Usage: db-writer dlq /m],
    [["simulate", "--bogus"], /simulate: Unknown option '--bogus'/, /^Usage: db-writer simulate /m],
    [["simulate", "--duration", "2500000"], /--duration must be .*2147483/, /^Usage: db-writer simulate /m],
  ];
  for (const [args, problem, usage] of cases) {
    await t.step(args.join(" "), async () => {
      const out = await runCli(args, env);
      assert.equal(out.code, 2, `${args.join(" ")}: ${out.stdout}${out.stderr}`);
      assert.equal(out.stdout, "", "nothing on stdout: no log line, no connection");
      assert.match(out.stderr, problem);
      assert.match(out.stderr, usage);
      assert.match(out.stderr, /\(more: db-writer( \w+)? --help\)/);
      assert.ok(out.stderr.trim().split("\n").length <= 3, `short:\n${out.stderr}`);
    });
  }
});
