/**
 * LOG_FORMAT=auto (the default): readable lines on a terminal, JSON Lines
 * when the output is a pipe or a file; `json` and `text` force one or the other.
 */
import assert from "node:assert/strict";
import { runCli, startTaskArgs } from "../_helpers/process.ts";
import { createWorld } from "../_helpers/world.ts";
import { resolveLogFormat } from "../../src/log.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test("resolveLogFormat: auto follows the terminal; json and text are kept", () => {
  assert.equal(resolveLogFormat("auto", true), "text");
  assert.equal(resolveLogFormat("auto", false), "json");
  assert.equal(resolveLogFormat("json", true), "json");
  assert.equal(resolveLogFormat("text", false), "text");
});

/** Runs `db-writer <args>` with its stdout on a pseudo-terminal (`script`); returns what it printed. */
async function onTerminal(args: string[], env: Record<string, string>): Promise<string> {
  const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const command = [Deno.execPath(), ...startTaskArgs(), ...args].map(quote).join(" ");
  const out = await new Deno.Command("script", {
    args: ["-qec", command, "/dev/null"],
    cwd: ROOT,
    env: { PATH: Deno.env.get("PATH") ?? "", HOME: Deno.env.get("HOME") ?? "/tmp", NO_COLOR: "1", ...env },
    clearEnv: true,
    stdin: "null",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

Deno.test({
  name: "LOG_FORMAT unset: readable lines on a terminal, JSON into a pipe",
  ignore: Deno.build.os !== "linux",
  async fn() {
    await using world = await createWorld();
    const { LOG_FORMAT: _, ...env } = world.env();
    const terminal = await onTerminal(["migrate", "up"], env);
    const logLine = terminal.split(/\r?\n/).find((l) => l.includes("migration applied"));
    assert.ok(logLine, terminal);
    assert.match(logLine, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} INFO +migration applied migration=0001/);

    const { LOG_FORMAT: __, ...again } = world.env({ TABLE_NAME: `${world.schema}.other` });
    const piped = await runCli(["migrate", "up"], again);
    assert.equal(piped.code, 0, piped.stderr);
    const record = piped.stdout.split("\n").find((l) => l.includes("migration applied"));
    assert.equal(JSON.parse(record!).message, "migration applied");

    const forced = await onTerminal(
      ["migrate", "up"],
      world.env({ LOG_FORMAT: "json", TABLE_NAME: `${world.schema}.third` }),
    );
    const json = forced.split(/\r?\n/).find((l) => l.includes("migration applied"));
    assert.equal(JSON.parse(json!).message, "migration applied");
  },
});
