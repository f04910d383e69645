/**
 * The single binary. `deno compile` needs the Deno runtime ("denort"), which it
 * downloads; where that is impossible, DENORT_BIN can point at one. Pointing
 * it at `deno` itself still walks the whole module graph and lists the
 * embedded files, which proves everything but the runtime; running the real
 * binary needs a real denort.
 */
import assert from "node:assert/strict";
import { createWorld } from "./helpers.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const DENO_VERSION = Deno.readTextFileSync(`${ROOT}.deno-version`).trim();
const denort = Deno.env.get("DENORT_BIN");
const realDenort = denort !== undefined && denort !== "" && !/\/deno$/.test(denort);

/** Runs the `compile` task of deno.json exactly, but writing to `output`. */
async function compile(output: string, runtime: string): Promise<{ code: number; text: string }> {
  const task: string = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`)).tasks.compile;
  const args = task.split(/\s+/);
  assert.equal(args.shift(), "deno");
  const at = args.indexOf("--output");
  assert.ok(at >= 0, "the compile task names its --output");
  args[at + 1] = output;
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env: { DENORT_BIN: runtime, NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, text: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

Deno.test("deno compile embeds the whole program and the migrations", async () => {
  const dir = await Deno.makeTempDir({ prefix: "db-writer-compile-" });
  try {
    const { code, text } = await compile(`${dir}/db-writer`, realDenort ? denort! : Deno.execPath());
    assert.equal(code, 0, text);
    assert.match(text, /Embedded Files/);
    assert.match(text, /db\/\*|migrations/, "db/migrations must be embedded (compile --include)");
    for (const pkg of ["ioredis", "postgres", "zod", "@logtape/logtape"]) assert.ok(text.includes(pkg), pkg);
    assert.ok((await Deno.stat(`${dir}/db-writer`)).size > 1_000_000, "the binary was written where asked");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the Deno version is pinned once: Dockerfile and CI follow .deno-version", () => {
  const dockerfile = Deno.readTextFileSync(`${ROOT}Dockerfile`);
  assert.match(dockerfile, new RegExp(`denoland/deno:[a-z]+-${DENO_VERSION.replaceAll(".", "\\.")}\\b`));
  assert.match(Deno.readTextFileSync(`${ROOT}.ci/run`), /\.deno-version/);
});

Deno.test({
  name: realDenort
    ? "the compiled binary runs: --version, migrate status"
    : "the compiled binary runs (skipped: DENORT_BIN is not set to a denort binary, and this machine cannot download one)",
  ignore: !realDenort,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "db-writer-bin-" });
    await using world = await createWorld();
    try {
      const { code, text } = await compile(`${dir}/db-writer`, denort!);
      assert.equal(code, 0, text);
      const run = async (...args: string[]) => {
        const out = await new Deno.Command(`${dir}/db-writer`, { args, env: world.env(), cwd: dir }).output();
        return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
      };
      const version = await run("--version");
      assert.equal(version.code, 0);
      assert.match(version.stdout, /^db-writer \d+\.\d+\.\d+/);
      const up = await run("migrate", "up");
      assert.equal(up.code, 0, up.stdout);
      const status = await run("migrate", "status");
      assert.match(status.stdout, /0001_create_sensor_readings\s+applied/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
