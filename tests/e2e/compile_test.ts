/**
 * The single binary, built by tools/compile.ts (the compile tasks of deno.json).
 * `deno compile` needs the Deno runtime ("denort"), which it downloads; where
 * that is impossible, DENORT_BIN names one, and tools/compile.ts refuses a file
 * that is not the denort of the target and of this Deno version. Its
 * `--list-only` mode builds on deno itself, which walks the whole module graph
 * and lists the embedded files (everything but the runtime), and throws the
 * result away; running the real binary needs a real denort.
 */
import assert from "node:assert/strict";
import { addEntries, pendingCount } from "../_helpers/streams.ts";
import { createWorld } from "../_helpers/world.ts";
import { waitFor } from "../_helpers/wait.ts";
import { VERSION } from "../../src/version.ts";
import { runtimeFileProblem, targetMachine } from "../../tools/denort.ts";
import { binaryVersionProblem } from "../../tools/version_check.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const DENO_VERSION = Deno.readTextFileSync(`${ROOT}.deno-version`).trim();
const TASKS: Record<string, string> = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`)).tasks;
const denort = Deno.env.get("DENORT_BIN");
/** Why DENORT_BIN cannot build a binary for this machine, or undefined when it can. */
const denortProblem = denort === undefined || denort === ""
  ? "DENORT_BIN is not set"
  : await runtimeFileProblem(denort, { target: Deno.build.target, denoVersion: Deno.version.deno });

/** The compile task for the other architecture than this machine's, and that architecture's name. */
const OTHER = Deno.build.arch === "x86_64"
  ? { task: "compile:aarch64", program: "x86-64", target: "aarch64" }
  : { task: "compile:x86_64", program: "aarch64", target: "x86-64" };

/**
 * Runs `deno task <task> <args>` as a person would, with a clean environment
 * and DENORT_BIN set only when `runtime` is given.
 */
async function task(
  name: string,
  args: readonly string[],
  runtime?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: Record<string, string> = { NO_COLOR: "1" };
  for (const v of ["PATH", "HOME", "DENO_DIR", "XDG_CACHE_HOME"]) {
    const value = Deno.env.get(v);
    if (value !== undefined) env[v] = value;
  }
  if (runtime !== undefined) env.DENORT_BIN = runtime;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", name, ...args],
    cwd: ROOT,
    env,
    clearEnv: true,
    stdin: "null",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A fresh directory under dist/ (the compile tasks may write only there); removed by the caller. */
async function distDir(): Promise<string> {
  await Deno.mkdir(`${ROOT}dist`, { recursive: true });
  return await Deno.makeTempDir({ dir: `${ROOT}dist`, prefix: ".test-" });
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
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

Deno.test("compile --list-only embeds every module of src/, main.ts, every npm package and every migration, and writes no binary", async () => {
  const before = await Array.fromAsync(Deno.readDir(`${ROOT}dist`)).catch(() => []);
  const { code, stdout, stderr } = await task("compile", ["--list-only"]);
  const text = stdout + stderr;
  assert.equal(code, 0, text);
  assert.match(text, /writes NO binary/, "the mode says it builds nothing");
  const paths = embeddedPaths(text);
  const wanted = ["main.ts", ...filesUnder("src"), ...filesUnder("db/migrations")];
  const missing = wanted.filter((f) => !isEmbedded(paths, f));
  assert.deepEqual(missing, [], `not embedded in the binary:\n${text}`);
  assert.ok(filesUnder("db/migrations").some((f) => f.endsWith(".up.sql")), "there are migrations to embed");
  assert.ok(!paths.some((p) => p.startsWith("tools") || p.startsWith("tests")), "no build or test code inside");

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
  const after = await Array.fromAsync(Deno.readDir(`${ROOT}dist`));
  assert.deepEqual(
    after.map((e) => e.name).filter((n) => !n.startsWith(".test-")).sort(),
    before.map((e) => e.name).filter((n) => !n.startsWith(".test-")).sort(),
    "--list-only leaves dist/ as it was",
  );
});

Deno.test("the compile tasks refuse a runtime that is not the target's denort, and build nothing", async (t) => {
  const dir = await distDir();
  const scratch = await Deno.makeTempDir({ prefix: "db-writer-runtime-" });
  try {
    const output = `${dir.slice(ROOT.length)}/db-writer`;
    const refused = async (name: string, runtime: string, problem: RegExp, target: string) => {
      const { code, stdout, stderr } = await task(name, ["--output", output], runtime);
      assert.equal(code, 1, stdout + stderr);
      const message = new RegExp(
        `^error: DENORT_BIN=${
          runtime.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")
        } cannot be the runtime for target ${target}: `,
        "m",
      );
      assert.match(stderr, message);
      assert.match(stderr, problem);
      const v = Deno.version.deno;
      assert.ok(
        stderr.includes(`https://github.com/denoland/deno/releases/download/v${v}/denort-${target}.zip`),
        `names the release asset:\n${stderr}`,
      );
      assert.match(stderr, new RegExp(`DENORT_BIN=\\S+/denort deno task ${name}\\n`), "says how to point at it");
      assert.ok(!(await exists(`${ROOT}${output}`)), "nothing was built");
    };
    await t.step("deno itself (DENORT_BIN=$(which deno) deno task compile)", async () => {
      await refused(
        "compile",
        Deno.execPath(),
        /: it is the full deno command line \(deno [\d.]+\), not denort/,
        Deno.build.target,
      );
    });
    await t.step(`this machine's deno for the other architecture (deno task ${OTHER.task})`, async () => {
      const target = OTHER.target === "aarch64" ? "aarch64-unknown-linux-gnu" : "x86_64-unknown-linux-gnu";
      await refused(
        OTHER.task,
        Deno.execPath(),
        new RegExp(`: it is an? ${OTHER.program} program, the target is ${OTHER.target}\\.$`, "m"),
        target,
      );
    });
    await t.step("a file that is not a program", async () => {
      await Deno.writeTextFile(`${scratch}/denort`, "not a program\n");
      await refused(
        "compile",
        `${scratch}/denort`,
        /: it is not an ELF executable \(it starts with 6e 6f 74 20/,
        Deno.build.target,
      );
    });
    await t.step("the zip, not unpacked", async () => {
      await Deno.writeFile(`${scratch}/denort.zip`, new TextEncoder().encode("PK\x03\x04denort"));
      await refused("compile", `${scratch}/denort.zip`, /: it is a zip archive; unzip it/, Deno.build.target);
    });
    await t.step("a 32-bit program", async () => {
      const elf = new Uint8Array(64);
      elf.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
      await Deno.writeFile(`${scratch}/denort32`, elf);
      await refused("compile", `${scratch}/denort32`, /: it is a 32-bit ELF program/, Deno.build.target);
    });
    await t.step("a path with nothing there", async () => {
      await refused("compile", `${scratch}/missing`, /: there is no such file\.$/m, Deno.build.target);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(scratch, { recursive: true });
  }
});

Deno.test("a build for this machine that does not answer --version as db-writer is refused and deleted", async () => {
  // deno with the two strings that tell the full command line apart blanked out: it passes the
  // runtime checks, deno compile builds on it, and the result is deno again (`deno 2.9.6`).
  const scratch = await Deno.makeTempDir({ prefix: "db-writer-runtime-" });
  const dir = await distDir();
  try {
    const bytes = await Deno.readFile(Deno.execPath());
    for (const marker of ["Could not find denort at", "DENORT_BIN"]) {
      const want = new TextEncoder().encode(marker);
      for (let i = bytes.indexOf(want[0]!); i >= 0; i = bytes.indexOf(want[0]!, i + 1)) {
        if (want.every((b, j) => bytes[i + j] === b)) bytes.fill(0x58, i, i + want.length);
      }
    }
    await Deno.writeFile(`${scratch}/denort`, bytes, { mode: 0o755 });
    const target = { target: Deno.build.target, denoVersion: Deno.version.deno };
    assert.equal(
      await runtimeFileProblem(`${scratch}/denort`, target),
      undefined,
      "the disguised deno passes the checks",
    );

    const output = `${dir.slice(ROOT.length)}/db-writer`;
    const { code, stdout, stderr } = await task("compile", ["--output", output], `${scratch}/denort`);
    assert.equal(code, 1, stdout + stderr);
    assert.match(
      stderr,
      new RegExp(
        `^error: ${output.replaceAll(".", "\\.")} is not db-writer: --version printed "deno ${
          Deno.version.deno.replaceAll(".", "\\.")
        } .*" and exited 0; expected "db-writer ${VERSION.replaceAll(".", "\\.")}" and exit 0; deleted it\\.$`,
        "m",
      ),
    );
    assert.match(stderr, /It was built on DENORT_BIN=.*\ndeno compile needs denort/);
    assert.ok(!(await exists(`${ROOT}${output}`)), "the wrong binary is gone");
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(scratch, { recursive: true });
  }
});

Deno.test("binaryVersionProblem runs the binary: db-writer passes; deno, a crash and a hang do not", async () => {
  const dir = await Deno.makeTempDir({ prefix: "db-writer-version-" });
  try {
    const script = async (name: string, body: string) => {
      await Deno.writeTextFile(`${dir}/${name}`, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
      return `${dir}/${name}`;
    };
    assert.equal(await binaryVersionProblem(await script("ok", `echo "db-writer ${VERSION}"`), VERSION), undefined);
    assert.match(
      (await binaryVersionProblem(await script("deno", `echo "deno 2.9.6 (stable)"`), VERSION)) ?? "",
      /^--version printed "deno 2\.9\.6 \(stable\)" and exited 0; expected "db-writer /,
    );
    assert.match(
      (await binaryVersionProblem(await script("crash", `echo 'Module not found' >&2; exit 1`), VERSION)) ?? "",
      /printed nothing on stdout and "Module not found" on stderr and exited 1/,
    );
    assert.match(
      (await binaryVersionProblem(await script("hang", "exec sleep 30"), VERSION, 300)) ?? "",
      /did not finish within 0\.3 s/,
    );
    assert.match((await binaryVersionProblem(`${dir}/missing`, VERSION)) ?? "", /^it could not be run: /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the Deno version is pinned once: Dockerfile and CI follow .deno-version", () => {
  const dockerfile = Deno.readTextFileSync(`${ROOT}Dockerfile`);
  assert.match(dockerfile, new RegExp(`denoland/deno:[a-z]+-${DENO_VERSION.replaceAll(".", "\\.")}\\b`));
  assert.match(Deno.readTextFileSync(`${ROOT}.ci/run`), /\.deno-version/);
});

Deno.test("the compile tasks run tools/compile.ts with its few permissions, each with its --target and its own output", () => {
  const outputs = new Set<string>();
  const prefix = "deno run --allow-read --allow-write=dist --allow-run --allow-env=DENORT_BIN tools/compile.ts";
  for (
    const [name, target] of [
      ["compile", undefined],
      ["compile:x86_64", "x86_64-unknown-linux-gnu"],
      ["compile:aarch64", "aarch64-unknown-linux-gnu"],
    ] as const
  ) {
    const command = TASKS[name];
    assert.ok(command, `deno.json has a ${name} task`);
    assert.ok(command.startsWith(`${prefix} `), `${name}: ${command}`);
    const words = command.slice(prefix.length).trim().split(/\s+/);
    const at = words.indexOf("--target");
    assert.equal(at >= 0 ? words[at + 1] : undefined, target, `${name} --target`);
    if (target !== undefined) assert.ok(targetMachine(target) !== undefined, `${target} is a checked Linux target`);
    const output = words[words.indexOf("--output") + 1] ?? "";
    assert.ok(output.startsWith("dist/"), `${name} writes into dist/ (the only place it may write)`);
    outputs.add(output);
    assert.equal(words.length, target === undefined ? 2 : 4, `${name}: nothing but --target and --output`);
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
  const build = lines.slice(0, lines.indexOf(froms[1]!));
  assert.ok(
    build.includes("RUN deno task compile && ./dist/db-writer --version"),
    "built by the compile task (its flags, its checks), then run once",
  );
  for (const copied of ["service.flags", "tools", "main.ts", "src", "db"]) {
    assert.ok(
      build.some((l) => new RegExp(`^COPY (\\S+ )*${copied.replace(".", "\\.")}\\b`).test(l)),
      `the build stage copies ${copied}`,
    );
  }
  assert.doesNotMatch(dockerfile, /--allow-all|\s-A\s/);
  const run = lines.slice(lines.indexOf(froms[1]!));
  assert.ok(run.includes("USER nonroot"), "runs as non-root");
  assert.ok(run.includes("ENV HTTP_HOST=0.0.0.0"), "the published port reaches the HTTP server (loopback by default)");
  const health = run.find((l) => l.startsWith("HEALTHCHECK "));
  assert.ok(health, "has a HEALTHCHECK");
  assert.match(health, /CMD \["\/usr\/local\/bin\/db-writer", "health"\]$/);
  assert.ok(run.includes('ENTRYPOINT ["/usr/local/bin/db-writer"]'));
  const ignored = Deno.readTextFileSync(`${ROOT}.dockerignore`).split("\n").map((l) => l.trim());
  for (const path of [".env", "dist", ".git", "node_modules"]) {
    assert.ok(ignored.includes(path), `.dockerignore: ${path}`);
  }
  for (const path of ["service.flags", "tools", "tools/", "*.flags"]) {
    assert.ok(!ignored.includes(path), `.dockerignore must not leave out ${path}: the build needs it`);
  }
});

Deno.test({
  name: denortProblem === undefined
    ? "the compiled binary runs on its own: --version, --help, migrate up/status, health, a short run"
    : `the compiled binary runs on its own (skipped: ${
      denort === undefined || denort === ""
        ? `set DENORT_BIN to the denort of Deno ${Deno.version.deno} for ${Deno.build.target} to run it`
        : `DENORT_BIN=${denort} cannot build it: ${denortProblem}`
    }; this machine cannot download denort, and deno itself cannot stand in for it)`,
  ignore: denortProblem !== undefined,
  async fn() {
    const dir = await distDir();
    await using world = await createWorld();
    try {
      const built = await task("compile", ["--output", `${dir.slice(ROOT.length)}/db-writer`], denort!);
      assert.equal(built.code, 0, built.stdout + built.stderr);
      assert.match(built.stderr, new RegExp(`checked: .*db-writer --version says db-writer ${VERSION}`));
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
        if (!f.isFile) continue; // another layout's migrations (db/migrations/telemetry/)
        const name = f.name.replace(/\.(up|down)\.sql$/, "");
        assert.match(status.stdout, new RegExp(`${name}\\s+(applied|skipped)`), status.stdout);
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
        await waitFor(async () =>
          (await pendingCount(world.redis, stream, world.group)) === 0 &&
          (await world.sql.unsafe(`SELECT count(*)::int AS n FROM ${world.table}`))[0]?.n === 1, {
          timeoutMs: 30_000,
          what: "the entry stored and acknowledged by the binary",
        });
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
