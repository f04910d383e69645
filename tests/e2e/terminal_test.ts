/**
 * Ctrl-C in a terminal: SIGINT reaches the whole foreground process group,
 * i.e. both `deno task` and the service, and `deno task` forwards it once
 * more. One press must still drain cleanly and exit 0.
 */
import assert from "node:assert/strict";
import { addEntries, pendingCount } from "../_helpers/streams.ts";
import { createWorld } from "../_helpers/world.ts";
import { waitFor } from "../_helpers/wait.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test({
  name: "one Ctrl-C to `deno task start` (SIGINT to the process group) drains and exits 0",
  ignore: Deno.build.os !== "linux",
  async fn() {
    await using world = await createWorld();
    const stream = `${world.prefix}:dev:temp`;
    await addEntries(world.redis, stream, [{ value: "1", timestamp: "2026-11-28T10:00:00Z" }]);
    // setsid: the task leads a process group of its own, like a terminal's foreground job.
    const child = new Deno.Command("setsid", {
      args: [Deno.execPath(), "task", "start"],
      cwd: ROOT,
      env: { PATH: Deno.env.get("PATH") ?? "", HOME: Deno.env.get("HOME") ?? "/tmp", NO_COLOR: "1", ...world.env() },
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
    try {
      await waitFor(async () =>
        (await pendingCount(world.redis, stream, world.group)) === 0 &&
        (await world.sql.unsafe(`SELECT count(*)::int AS n FROM ${world.table}`).catch(() => [{ n: 0 }]))[0]?.n === 1, {
        timeoutMs: 30_000,
        what: "the entry stored",
      });
      const kill = await new Deno.Command("kill", { args: ["-INT", "--", `-${child.pid}`] }).output();
      assert.equal(kill.code, 0, "signal sent to the process group");
      const status = await Promise.race([
        child.status,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no exit within 15 s")), 15_000)),
      ]);
      const [stdout] = await output;
      const records = stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
      assert.equal(status.code, 0, stdout);
      assert.equal(records.filter((r) => r.message === "shutting down: finishing the batch in hand").length, 1);
      assert.ok(!records.some((r) => /second signal/.test(r.message)), "the copies counted as one signal");
      assert.ok(records.some((r) => r.message === "stopped" && r.exit_code === 0));
    } finally {
      try {
        Deno.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
      await child.status;
      await output.catch(() => {});
    }
  },
});
