/**
 * The checks of tools/compile.ts on their own: the ELF header, what makes a
 * file a usable runtime (denort of the target's architecture and of this Deno
 * version), the `--version` answer of a build, the arguments. Crafted bytes,
 * no runtime download; the file-based cases read only their temp files and
 * the running deno.
 */
import assert from "node:assert/strict";
import { EM_AARCH64, EM_X86_64, machineName, readElfHeader } from "../../tools/elf.ts";
import {
  containsAscii,
  runtimeFileProblem,
  runtimeHelp,
  runtimeProblem,
  runtimeVersions,
  targetMachine,
} from "../../tools/denort.ts";
import { versionProblem } from "../../tools/version_check.ts";
import { compileArgs, parseCompileArgs } from "../../tools/compile.ts";
import { parseServiceFlags } from "../../tools/service_flags.ts";

const X86 = "x86_64-unknown-linux-gnu";
const ARM = "aarch64-unknown-linux-gnu";
const DENO = "2.9.6";

/** A 64-byte ELF header as `readElfHeader` reads it, then `body` as ASCII. */
export function fakeElf(
  opts: { bits?: 1 | 2; endian?: 1 | 2; type?: number; machine?: number; body?: string } = {},
): Uint8Array {
  const { bits = 2, endian = 1, type = 3, machine = EM_X86_64, body = "" } = opts;
  const head = new Uint8Array(64);
  head.set([0x7f, 0x45, 0x4c, 0x46, bits, endian, 1]);
  const view = new DataView(head.buffer);
  view.setUint16(16, type, endian === 1);
  view.setUint16(18, machine, endian === 1);
  const rest = new TextEncoder().encode(body);
  const out = new Uint8Array(head.length + rest.length);
  out.set(head);
  out.set(rest, head.length);
  return out;
}

/** What a denort of Deno `version` has inside (as far as the checks look). */
export function denortBody(version = DENO): string {
  return `\0runtime\0d3n0l4nd\0OTel-OTLP-Exporter-Deno/0.80.0\0Deno/${version}\0`;
}

/** What the full deno has on top: the compile command that reads DENORT_BIN. */
export function fullDenoBody(version = DENO): string {
  return `${denortBody(version)}DENORT_BIN\0Could not find denort at '\0`;
}

const ascii = (s: string) => new TextEncoder().encode(s);

Deno.test("readElfHeader: class, byte order, type and machine; other formats by name", () => {
  assert.deepEqual(readElfHeader(fakeElf({ machine: EM_AARCH64 })), {
    format: "elf",
    bits: 64,
    endian: "little",
    type: 3,
    machine: 183,
  });
  assert.deepEqual(readElfHeader(fakeElf({ bits: 1, endian: 2, type: 2, machine: 40 })), {
    format: "elf",
    bits: 32,
    endian: "big",
    type: 2,
    machine: 40,
  });
  assert.equal(readElfHeader(new Uint8Array()).format, "empty");
  assert.equal(readElfHeader(ascii("PK\x03\x04denort")).format, "zip");
  assert.equal(readElfHeader(ascii("#!/bin/sh\necho hi\n")).format, "script");
  assert.equal(readElfHeader(ascii("MZ\x90\x00")).format, "pe");
  assert.equal(readElfHeader(new Uint8Array([0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1])).format, "mach-o");
  assert.deepEqual(readElfHeader(ascii("<html>")), { format: "unknown", head: "3c 68 74 6d 6c 3e" });
  assert.equal(machineName(EM_X86_64), "x86-64");
  assert.equal(machineName(EM_AARCH64), "aarch64");
  assert.equal(machineName(999), "ELF machine 999");
  assert.equal(targetMachine(X86), 62);
  assert.equal(targetMachine(ARM), 183);
  assert.equal(targetMachine("aarch64-apple-darwin"), undefined);
});

Deno.test("runtimeProblem accepts a denort of the target's architecture and Deno version", () => {
  assert.equal(runtimeProblem(fakeElf({ body: denortBody() }), { target: X86, denoVersion: DENO }), undefined);
  assert.equal(
    runtimeProblem(fakeElf({ machine: EM_AARCH64, type: 2, body: denortBody() }), { target: ARM, denoVersion: DENO }),
    undefined,
  );
});

Deno.test("runtimeProblem refuses, saying what is wrong", async (t) => {
  const cases: [string, Uint8Array, string, RegExp][] = [
    ["an empty file", new Uint8Array(), X86, /^the file is empty$/],
    ["text", ascii("not a program at all"), X86, /^it is not an ELF executable \(it starts with 6e 6f 74 20/],
    ["the zip itself", ascii("PK\x03\x04...denort"), ARM, /^it is a zip archive; unzip it and point DENORT_BIN at/],
    ["a script", ascii('#!/bin/sh\nexec deno "$@"\n'), X86, /^it is a script \(it starts with #!\)/],
    ["a macOS build", new Uint8Array([0xcf, 0xfa, 0xed, 0xfe, 0, 0, 0, 0]), ARM, /^it is a macOS \(Mach-O\) program/],
    ["a Windows build", ascii("MZ\x90\x00\x03"), X86, /^it is a Windows \(PE\) program/],
    [
      "32-bit",
      fakeElf({ bits: 1, machine: 40, body: denortBody() }),
      ARM,
      /^it is a 32-bit ELF program; the target needs a 64-bit one \(Deno has no 32-bit builds\)$/,
    ],
    ["big-endian", fakeElf({ endian: 2, body: denortBody() }), X86, /^it is a big-endian ELF program/],
    [
      "an object file",
      fakeElf({ type: 1, body: denortBody() }),
      X86,
      /^it is an ELF file of type 1, not an executable/,
    ],
    [
      "x86-64 for aarch64",
      fakeElf({ machine: EM_X86_64, body: denortBody() }),
      ARM,
      /^it is an x86-64 program, the target is aarch64$/,
    ],
    [
      "aarch64 for x86-64",
      fakeElf({ machine: EM_AARCH64, body: denortBody() }),
      X86,
      /^it is an aarch64 program, the target is x86-64$/,
    ],
    ["32-bit ARM machine", fakeElf({ machine: 40, body: denortBody() }), ARM, /^it is a 32-bit ARM program/],
    ["not Deno", fakeElf({ body: "just some program" }), X86, /^it is not a Deno runtime \(it lacks "d3n0l4nd"/],
    [
      "the full deno",
      fakeElf({ body: fullDenoBody() }),
      X86,
      /^it is the full deno command line \(deno 2\.9\.6\), not denort: a binary built on it runs deno's own command line instead of db-writer$/,
    ],
    [
      "another Deno version",
      fakeElf({ body: denortBody("2.9.5") }),
      X86,
      /^it is the runtime of Deno 2\.9\.5, not 2\.9\.6; deno compile 2\.9\.6 needs the denort of its own version$/,
    ],
    [
      "a version that merely starts alike",
      fakeElf({ body: denortBody("2.9.60") }),
      X86,
      /^it is the runtime of Deno 2\.9\.60, not 2\.9\.6/,
    ],
    [
      "no version",
      fakeElf({ body: "d3n0l4nd" }),
      X86,
      /^its Deno version is unknown \(it does not name "Deno\/2\.9\.6"\)/,
    ],
  ];
  for (const [name, bytes, target, expected] of cases) {
    await t.step(name, () => {
      const problem = runtimeProblem(bytes, { target, denoVersion: DENO });
      assert.ok(problem !== undefined, `${name} must be refused`);
      assert.match(problem, expected);
    });
  }
});

Deno.test("containsAscii and runtimeVersions scan the whole file", () => {
  const big = new Uint8Array(3_000_000).fill(0x44); // "DDDD…": many false starts of "Deno/"
  big.set(ascii("Deno/2.9.6"), big.length - 10);
  assert.ok(containsAscii(big, "Deno/2.9.6"));
  assert.ok(!containsAscii(big, "d3n0l4nd"));
  assert.deepEqual(runtimeVersions(big), ["2.9.6"]);
  assert.deepEqual(runtimeVersions(ascii("xDeno/2.9.6+abc Deno/2.9.6 Exporter-Deno/0.80.0 Deno/x")), ["2.9.6"]);
});

Deno.test("runtimeHelp names the release asset of the exact version and target, and how to point at it", () => {
  const help = runtimeHelp({ target: ARM, denoVersion: DENO, pinned: DENO, task: "compile:aarch64" });
  assert.match(help, /of Deno 2\.9\.6 \(the version in \.deno-version\), built for aarch64-unknown-linux-gnu/);
  assert.ok(
    help.includes("https://github.com/denoland/deno/releases/download/v2.9.6/denort-aarch64-unknown-linux-gnu.zip"),
  );
  assert.ok(help.includes("https://dl.deno.land/release/v2.9.6/denort-aarch64-unknown-linux-gnu.zip"));
  assert.match(
    help,
    /unzip denort-aarch64-unknown-linux-gnu\.zip -d (\S+)\n\s+DENORT_BIN=\1\/denort deno task compile:aarch64/,
  );
  const other = runtimeHelp({ target: X86, denoVersion: "2.9.5", pinned: DENO, task: "compile" });
  assert.match(other, /Deno 2\.9\.5 \(the deno running this build; \.deno-version pins 2\.9\.6: install that one\)/);
  assert.ok(other.includes("/v2.9.5/denort-x86_64-unknown-linux-gnu.zip"));
});

Deno.test("runtimeFileProblem: a missing file, a directory, a crafted file, and deno itself", async () => {
  const dir = await Deno.makeTempDir({ prefix: "db-writer-denort-" });
  try {
    const wanted = { target: Deno.build.target, denoVersion: Deno.version.deno };
    assert.equal(await runtimeFileProblem(`${dir}/nothing`, wanted), "there is no such file");
    assert.equal(await runtimeFileProblem(dir, wanted), "it is a directory, not a file");
    const machine = targetMachine(Deno.build.target);
    await Deno.writeFile(`${dir}/denort`, fakeElf({ machine, body: denortBody(Deno.version.deno) }));
    assert.equal(await runtimeFileProblem(`${dir}/denort`, wanted), undefined);
    // The running deno is the full command line: the case of `DENORT_BIN=$(which deno)`.
    assert.match(
      (await runtimeFileProblem(Deno.execPath(), wanted)) ?? "",
      new RegExp(
        `^it is the full deno command line \\(deno ${Deno.version.deno.replaceAll(".", "\\.")}\\), not denort`,
      ),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("versionProblem: only `db-writer <version>` and exit 0 pass", () => {
  assert.equal(versionProblem({ code: 0, stdout: "db-writer 0.1.0\n", stderr: "" }, "0.1.0"), undefined);
  assert.equal(
    versionProblem(
      { code: 0, stdout: "deno 2.9.6 (stable, release, x86_64-unknown-linux-gnu)\nv8 15\n", stderr: "" },
      "0.1.0",
    ),
    '--version printed "deno 2.9.6 (stable, release, x86_64-unknown-linux-gnu)" and exited 0; expected "db-writer 0.1.0" and exit 0',
  );
  assert.match(
    versionProblem({ code: 1, stdout: "", stderr: 'error: Module not found "file:///x/--version"\n' }, "0.1.0") ?? "",
    /^--version printed nothing on stdout and "error: Module not found .*" on stderr and exited 1; expected/,
  );
  assert.match(
    versionProblem({ code: 0, stdout: "db-writer 0.0.9\n", stderr: "" }, "0.1.0") ?? "",
    /"db-writer 0\.0\.9"/,
  );
  assert.match(versionProblem({ code: 3, stdout: "db-writer 0.1.0\n", stderr: "" }, "0.1.0") ?? "", /exited 3/);
  assert.match(versionProblem({ code: 0, stdout: "", stderr: "" }, "0.1.0") ?? "", /printed nothing and exited 0/);
});

Deno.test("parseCompileArgs and compileArgs: the deno compile command line", () => {
  assert.deepEqual(parseCompileArgs([]), { output: "dist/db-writer", listOnly: false });
  assert.deepEqual(parseCompileArgs(["--target", ARM, "--output", "dist/a", "--output=x/b"]), {
    target: ARM,
    output: "x/b",
    listOnly: false,
  });
  assert.deepEqual(parseCompileArgs(["--output", "dist/a", "--list-only"]), { output: "dist/a", listOnly: true });
  assert.throws(() => parseCompileArgs(["--outptu", "x"]), /unknown argument "--outptu"/);
  assert.throws(() => parseCompileArgs(["--target"]), /--target needs a value/);
  assert.throws(() => parseCompileArgs(["--output", "--list-only"]), /--output needs a value/);
  assert.deepEqual(compileArgs(["--allow-net", "--no-prompt"], { target: ARM, output: "/o/x" }), [
    "compile",
    "--allow-net",
    "--no-prompt",
    "--include",
    "db/migrations",
    "--target",
    ARM,
    "--output",
    "/o/x",
    "main.ts",
  ]);
  assert.deepEqual(compileArgs(["--allow-net"], { output: "o" }).slice(-5), [
    "--include",
    "db/migrations",
    "--output",
    "o",
    "main.ts",
  ]);
});

Deno.test("parseServiceFlags: one flag a line; anything a shell would split or pass as a file is refused", () => {
  assert.deepEqual(parseServiceFlags("--allow-net\n\n  --no-prompt  \n"), ["--allow-net", "--no-prompt"]);
  assert.throws(() => parseServiceFlags("--allow-net --no-prompt\n"), /line 1: expected one flag/);
  assert.throws(() => parseServiceFlags("--allow-net\n# a comment\n"), /line 2: expected one flag/);
  assert.throws(() => parseServiceFlags("main.ts\n"), /line 1/);
  assert.throws(() => parseServiceFlags("\n\n"), /is empty/);
});
