/**
 * Is this file a runtime `deno compile` can build db-writer on? `deno compile`
 * copies the file named by DENORT_BIN and appends the program to it without
 * looking at it, so a wrong file gives a binary that exits 0 at build time and
 * fails where it is installed. These checks look first: an ELF program of the
 * target's architecture, 64-bit little-endian, a Deno runtime, not the full
 * `deno` command line, and of the Deno version that builds.
 */
import { EM_AARCH64, EM_X86_64, machineName, readElfHeader } from "./elf.ts";

/** What the runtime must be. */
export interface RuntimeWanted {
  /** Rust target triple, e.g. `aarch64-unknown-linux-gnu`. */
  readonly target: string;
  /** The Deno version of the `deno` that compiles (its denort must be the same). */
  readonly denoVersion: string;
}

/**
 * The section every Deno runtime looks for in its own file to find the program
 * appended to it (libsui's section name, `MAGIC_BYTES` in Deno's sources).
 */
const RUNTIME_MARKER = "d3n0l4nd";

/**
 * Strings only the full `deno` command line contains: `deno compile` itself
 * reads DENORT_BIN, and says "Could not find denort at" when the file is
 * missing. denort (the runtime without the tools) has no compiler in it.
 */
const FULL_CLI_MARKERS = ["Could not find denort at", "DENORT_BIN"];

/** The ELF machine a Linux target triple runs on, or undefined for targets checked by name only. */
export function targetMachine(target: string): number | undefined {
  if (!target.includes("-linux-")) return undefined;
  if (target.startsWith("x86_64-")) return EM_X86_64;
  if (target.startsWith("aarch64-")) return EM_AARCH64;
  return undefined;
}

/** True when `bytes` contains the ASCII string `needle`. */
export function containsAscii(bytes: Uint8Array, needle: string): boolean {
  return indexOfAscii(bytes, needle, 0) >= 0;
}

function indexOfAscii(bytes: Uint8Array, needle: string, from: number): number {
  const want = new TextEncoder().encode(needle);
  const first = want[0]!;
  for (let i = bytes.indexOf(first, from); i >= 0 && i + want.length <= bytes.length; i = bytes.indexOf(first, i + 1)) {
    let j = 1;
    while (j < want.length && bytes[i + j] === want[j]) j++;
    if (j === want.length) return i;
  }
  return -1;
}

/**
 * The Deno versions a runtime names in its HTTP user agent (`Deno/2.9.6`, a
 * literal compiled into every Deno binary). Other products' agents that end in
 * `-Deno/x.y.z` (e.g. its OpenTelemetry exporter's) are not Deno versions.
 */
export function runtimeVersions(bytes: Uint8Array): string[] {
  const found = new Set<string>();
  const dec = new TextDecoder("latin1");
  for (let i = indexOfAscii(bytes, "Deno/", 0); i >= 0; i = indexOfAscii(bytes, "Deno/", i + 1)) {
    if (i > 0 && bytes[i - 1] === 0x2d) continue; // "-Deno/"
    const m = /^Deno\/(\d+\.\d+\.\d+)(?![\d.])/.exec(dec.decode(bytes.subarray(i, i + 32)));
    if (m) found.add(m[1]!);
  }
  return [...found];
}

/**
 * Why `bytes` cannot be the runtime for `wanted`, in words that finish
 * "DENORT_BIN … cannot be used: …", or undefined when it can.
 */
export function runtimeProblem(bytes: Uint8Array, wanted: RuntimeWanted): string | undefined {
  const machine = targetMachine(wanted.target);
  if (machine !== undefined) {
    const elf = readElfHeader(bytes);
    switch (elf.format) {
      case "empty":
        return "the file is empty";
      case "zip":
        return "it is a zip archive; unzip it and point DENORT_BIN at the denort file inside";
      case "script":
        return "it is a script (it starts with #!), not a compiled program";
      case "mach-o":
        return "it is a macOS (Mach-O) program, not a Linux one";
      case "pe":
        return "it is a Windows (PE) program, not a Linux one";
      case "unknown":
        return `it is not an ELF executable (it starts with ${elf.head})`;
    }
    if (elf.bits !== 64) {
      return `it is a ${elf.bits ?? "?"}-bit ELF program; the target needs a 64-bit one (Deno has no 32-bit builds)`;
    }
    if (elf.endian !== "little") return "it is a big-endian ELF program; the target is little-endian";
    if (elf.type !== 2 && elf.type !== 3) {
      return `it is an ELF file of type ${elf.type}, not an executable (type 2 or 3)`;
    }
    if (elf.machine !== machine) {
      return `it is ${article(machineName(elf.machine))} ${machineName(elf.machine)} program, the target is ${
        machineName(machine)
      }`;
    }
  }
  if (!containsAscii(bytes, RUNTIME_MARKER)) {
    return `it is not a Deno runtime (it lacks "${RUNTIME_MARKER}", the section every Deno runtime reads its program from)`;
  }
  if (FULL_CLI_MARKERS.some((marker) => containsAscii(bytes, marker))) {
    const found = runtimeVersions(bytes);
    return `it is the full deno command line${
      found.length === 1 ? ` (deno ${found[0]})` : ""
    }, not denort: a binary built on it runs deno's own command line instead of db-writer`;
  }
  const versions = runtimeVersions(bytes);
  if (!versions.includes(wanted.denoVersion)) {
    return versions.length > 0
      ? `it is the runtime of Deno ${
        versions.join(", ")
      }, not ${wanted.denoVersion}; deno compile ${wanted.denoVersion} needs the denort of its own version`
      : `its Deno version is unknown (it does not name "Deno/${wanted.denoVersion}"); deno compile ${wanted.denoVersion} needs the denort of its own version`;
  }
  return undefined;
}

function article(word: string): string {
  return /^[aeiox]/i.test(word) ? "an" : "a";
}

/**
 * Reads the file at `path` and says why it cannot be the runtime, or undefined
 * when it can. A missing file or a directory is a problem, not an exception.
 */
export async function runtimeFileProblem(path: string, wanted: RuntimeWanted): Promise<string | undefined> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return "there is no such file";
    throw err;
  }
  if (!info.isFile) return info.isDirectory ? "it is a directory, not a file" : "it is not a regular file";
  return runtimeProblem(await Deno.readFile(path), wanted);
}

/** Where to get the right runtime and how to use it: the lines after a refusal. */
export function runtimeHelp(opts: { target: string; denoVersion: string; pinned: string; task: string }): string {
  const { target, denoVersion, pinned, task } = opts;
  const zip = `denort-${target}.zip`;
  const dir = `~/denort-${denoVersion}-${target.split("-")[0]}`;
  const which = denoVersion === pinned
    ? `Deno ${denoVersion} (the version in .deno-version)`
    : `Deno ${denoVersion} (the deno running this build; .deno-version pins ${pinned}: install that one)`;
  return [
    `deno compile needs denort, the Deno runtime without its tools, of ${which}, built for ${target}.`,
    `Download it from the Deno release on GitHub (or dl.deno.land, where deno compile looks by itself):`,
    `  https://github.com/denoland/deno/releases/download/v${denoVersion}/${zip}`,
    `  https://dl.deno.land/release/v${denoVersion}/${zip}`,
    `unzip it (it holds one file, denort) and point DENORT_BIN at that file:`,
    `  unzip ${zip} -d ${dir}`,
    `  DENORT_BIN=${dir}/denort deno task ${task}`,
    `With internet access, leave DENORT_BIN unset: deno compile downloads the runtime by itself.`,
  ].join("\n");
}
