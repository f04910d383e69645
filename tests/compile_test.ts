/**
 * The single binary. `deno compile` needs the Deno runtime ("denort"), which it
 * downloads; where that is impossible, DENORT_BIN can point at one. Pointing
 * it at `deno` itself still walks the whole module graph and lists the
 * embedded files, which proves everything but the runtime; running the real
 * binary needs a real denort.
 */
import assert from "node:assert/strict";
import { addEntries, createWorld, pendingCount, waitFor } from "./helpers.ts";
import { VERSION } from "../src/version.ts";

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

/**
 * The paths of `deno compile`'s "Embedded Files" tree. A directory shown as
 * `dir/*` holds every file of its real counterpart (Deno prints it that way only
 * then), so it stands for all of them; a partly embedded directory is listed
 * file by file.
 */
export function embeddedPaths(output: string): string[] {
  const lines = output.split("\n");
  const start = lines.findIndex((l) => l.trim() === "Embedded Files");
  assert.ok(start >= 0, `no "Embedded Files" section in:\n${output}`);
  const stack: string[] = [];
  const paths: string[] = [];
  for (const line of lines.slice(start + 1)) {
    const m = /^([│ ]*)[├└]─[┬─] (.+?)(?: \([^()]*\))?(?: --> .*)?$/.exec(line);
    if (!m) {
      if (paths.length > 0 && line.trim() === "") break;
      continue;
    }
    const depth = m[1]!.length / 2;
    stack.length = depth;
    stack.push(m[2]!);
    paths.push(stack.join("/"));
  }
  return paths;
}

/** True when `path` is in the tree, itself or through a `dir/*` ancestor. */
function isEmbedded(paths: readonly string[], path: string): boolean {
  return paths.some((p) => p === path || (p.endsWith("/*") && path.startsWith(p.slice(0, -1))));
}

/** Every file of `dir` (relative to the project), recursively. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of Deno.readDirSync(`${ROOT}${dir}`)) {
    if (entry.isDirectory) out.push(...filesUnder(`${dir}/${entry.name}`));
    else if (entry.isFile) out.push(`${dir}/${entry.name}`);
  }
  return out;
}

Deno.test("embeddedPaths reads deno compile's tree, collapsed directories included", () => {
  const sample = [
    "Embedded Files",
    "",
    "db-writer",
    "├─┬ .deno_compile_node_modules (8.3MB - 8.22MB unique)",
    "│ └─┬ localhost (8.3MB - 8.22MB unique)",
    "│   ├── @logtape/logtape/* (1.14MB - 1.14MB unique)",
    "│   └── zod/4.6.7/* (5.93MB - 5.86MB unique)",
    "├─┬ db (3.41KB)",
    "│ └─┬ migrations (3.41KB)",
    "│   └── 0001_a.up.sql (1KB)",
    "├── main.ts (10.09KB)",
    "└── src/* (318.62KB)",
    "",
    "Files: 8.64MB",
  ].join("\n");
  const paths = embeddedPaths(sample);
  assert.deepEqual(paths, [
    ".deno_compile_node_modules",
    ".deno_compile_node_modules/localhost",
    ".deno_compile_node_modules/localhost/@logtape/logtape/*",
    ".deno_compile_node_modules/localhost/zod/4.6.7/*",
    "db",
    "db/migrations",
    "db/migrations/0001_a.up.sql",
    "main.ts",
    "src/*",
  ]);
  assert.ok(isEmbedded(paths, "src/sink/writer.ts"));
  assert.ok(isEmbedded(paths, "db/migrations/0001_a.up.sql"));
  assert.ok(!isEmbedded(paths, "db/migrations/0001_a.down.sql"), "a file missing from a listed directory is missing");
  assert.ok(!isEmbedded(paths, "deno.lock"));
});

Deno.test("deno compile embeds every module of src/, main.ts, every npm package and every migration", async () => {
  const dir = await Deno.makeTempDir({ prefix: "db-writer-compile-" });
  try {
    const { code, text } = await compile(`${dir}/db-writer`, realDenort ? denort! : Deno.execPath());
    assert.equal(code, 0, text);
    const paths = embeddedPaths(text);
    const wanted = ["main.ts", ...filesUnder("src"), ...filesUnder("db/migrations")];
    const missing = wanted.filter((f) => !isEmbedded(paths, f));
    assert.deepEqual(missing, [], `not embedded in the binary:\n${text}`);
    assert.ok(filesUnder("db/migrations").some((f) => f.endsWith(".up.sql")), "there are migrations to embed");

    const imports: Record<string, string> = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`)).imports;
    const npm = Object.values(imports).filter((s) => s.startsWith("npm:")).map((s) => {
      const m = /^npm:(@?[^@]+)@(.+)$/.exec(s);
      assert.ok(m, `pinned npm import ${s}`);
      return { name: m[1]!, version: m[2]! };
    });
    assert.ok(npm.length > 0);
    const modules = paths.filter((p) => p.startsWith(".deno_compile_node_modules/"))
      .map((p) => p.split("/").slice(2).join("/"));
    for (const { name, version } of npm) {
      assert.ok(
        modules.some((p) => p === `${name}/*` || p.startsWith(`${name}/${version}`)),
        `npm:${name}@${version} is not embedded:\n${text}`,
      );
    }
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

Deno.test("compile:x86_64 and compile:aarch64 are the compile task with a --target and an output of their own", () => {
  const tasks: Record<string, string> = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`)).tasks;
  const outputs = new Set<string>();
  for (
    const [task, target] of [["compile", undefined], ["compile:x86_64", "x86_64-unknown-linux-gnu"], [
      "compile:aarch64",
      "aarch64-unknown-linux-gnu",
    ]] as const
  ) {
    const words = tasks[task]?.split(/\s+/) ?? [];
    assert.ok(words.length > 0, `deno.json has a ${task} task`);
    const output = words[words.indexOf("--output") + 1] ?? "";
    assert.ok(output.startsWith("dist/"), `${task} writes into dist/`);
    outputs.add(output);
    const at = words.indexOf("--target");
    assert.equal(at >= 0 ? words[at + 1] : undefined, target, `${task} --target`);
    const rest = words.filter((w, i) => !(at >= 0 && (i === at || i === at + 1)) && w !== output);
    const base = tasks.compile!.split(/\s+/).filter((w) => !w.startsWith("dist/"));
    assert.deepEqual(rest, base, `${task} is the compile task apart from --target and --output`);
  }
  assert.equal(outputs.size, 3, "each variant writes its own file");
});

Deno.test("Dockerfile: compiles with the compile task in the pinned Deno image, runs as non-root on distroless cc", () => {
  const dockerfile = Deno.readTextFileSync(`${ROOT}Dockerfile`);
  const lines = dockerfile.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("#"));
  const froms = lines.filter((l) => /^FROM /.test(l));
  assert.equal(froms.length, 2, "two stages: build and run");
  assert.match(froms[0]!, new RegExp(`^FROM denoland/deno:[a-z]+-${DENO_VERSION.replaceAll(".", "\\.")} AS build$`));
  assert.match(froms[1]!, /^FROM gcr\.io\/distroless\/cc-debian\d+:nonroot$/);
  assert.ok(lines.includes("RUN deno install --frozen"), "dependencies from deno.lock, nothing else");
  assert.ok(lines.some((l) => /^RUN deno task compile\b/.test(l)), "built by the compile task, with its permissions");
  assert.doesNotMatch(dockerfile, /--allow-all|\s-A\s/);
  const run = lines.slice(lines.indexOf(froms[1]!));
  assert.ok(run.includes("USER nonroot"), "runs as non-root");
  const health = run.find((l) => l.startsWith("HEALTHCHECK "));
  assert.ok(health, "has a HEALTHCHECK");
  assert.match(health, /CMD \["\/usr\/local\/bin\/db-writer", "health"\]$/);
  assert.ok(run.includes('ENTRYPOINT ["/usr/local/bin/db-writer"]'));
  const ignored = Deno.readTextFileSync(`${ROOT}.dockerignore`).split("\n").map((l) => l.trim());
  for (const path of [".env", "dist", ".git", "node_modules"]) {
    assert.ok(ignored.includes(path), `.dockerignore: ${path}`);
  }
});

Deno.test({
  name: realDenort
    ? "the compiled binary runs on its own: --version, --help, migrate up/status, health, a short run"
    : `the compiled binary runs on its own (skipped: set DENORT_BIN to a denort ${DENO_VERSION} binary to run it; this machine cannot download one, and deno itself cannot stand in for it)`,
  ignore: !realDenort,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "db-writer-bin-" });
    await using world = await createWorld();
    try {
      const { code, text } = await compile(`${dir}/db-writer`, denort!);
      assert.equal(code, 0, text);
      // Nothing beside the binary: the working directory holds only the binary itself.
      const env = { PATH: "/usr/bin:/bin", NO_COLOR: "1", ...world.env() };
      const run = async (...args: string[]) => {
        const out = await new Deno.Command(`${dir}/db-writer`, { args, env, clearEnv: true, cwd: dir, stdin: "null" })
          .output();
        const dec = new TextDecoder();
        return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
      };
      const version = await run("--version");
      assert.equal(version.code, 0, version.stderr);
      assert.equal(version.stdout, `db-writer ${VERSION}\n`);
      const help = await run("migrate", "--help");
      assert.equal(help.code, 0, help.stderr);
      assert.match(help.stdout, /migrate up/);
      const up = await run("migrate", "up");
      assert.equal(up.code, 0, up.stdout + up.stderr);
      const status = await run("migrate", "status");
      assert.equal(status.code, 0, status.stderr);
      for (const f of Deno.readDirSync(`${ROOT}db/migrations`)) {
        const name = f.name.replace(/\.(up|down)\.sql$/, "");
        assert.match(status.stdout, new RegExp(`${name}\\s+applied`), status.stdout);
      }
      const health = await run("health");
      assert.equal(health.code, 0, health.stdout + health.stderr);

      const stream = `${world.prefix}:gw-1:temperature`;
      const child = new Deno.Command(`${dir}/db-writer`, {
        args: ["run"],
        env,
        clearEnv: true,
        cwd: dir,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const output = Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
      try {
        await addEntries(world.redis, stream, [{ value: "20.5", timestamp: "2026-11-28T10:00:00Z" }]);
        await waitFor(
          async () =>
            (await pendingCount(world.redis, stream, world.group)) === 0 &&
            (await world.sql.unsafe(`SELECT count(*)::int AS n FROM ${world.table}`))[0]?.n === 1,
          30_000,
          "the entry stored and acknowledged by the binary",
        );
        child.kill("SIGTERM");
        const exit = await child.status;
        const [stdout, stderr] = await output;
        assert.equal(exit.code, 0, stdout + stderr);
        assert.doesNotMatch(stdout + stderr, /NotCapable|PermissionDenied|Requires \w+ access/);
      } finally {
        try {
          child.kill("SIGKILL");
        } catch {
          // already exited
        }
        await child.status;
        await output.catch(() => {});
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
