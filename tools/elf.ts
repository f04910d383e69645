/**
 * What kind of program a file holds, from its first bytes: enough of the ELF
 * header to tell a Linux runtime of the right architecture from everything
 * else, and a name for the usual mistakes (a zip not unpacked, a macOS or
 * Windows build, a script). Pure: takes bytes, reads no file.
 */

/** ELF `e_machine` of the two Linux architectures db-writer is built for. */
export const EM_X86_64 = 62;
/** ELF `e_machine` of 64-bit ARM (AArch64). */
export const EM_AARCH64 = 183;

/** The parts of an ELF header that decide whether a program can run on a target. */
export interface ElfHeader {
  readonly format: "elf";
  /** 32 or 64 (`EI_CLASS`). */
  readonly bits: 32 | 64 | undefined;
  /** Byte order (`EI_DATA`). */
  readonly endian: "little" | "big" | undefined;
  /** `e_type`: 2 executable, 3 shared object or position-independent executable. */
  readonly type: number;
  /** `e_machine`, e.g. {@link EM_X86_64} or {@link EM_AARCH64}. */
  readonly machine: number;
}

/** A file that is not an ELF program, with what it looks like instead. */
export interface NotElf {
  readonly format: "empty" | "zip" | "mach-o" | "pe" | "script" | "unknown";
  /** The first bytes in hex, for a message about an unknown format. */
  readonly head: string;
}

const MACHINES: Readonly<Record<number, string>> = {
  3: "32-bit x86",
  8: "MIPS",
  20: "PowerPC",
  21: "64-bit PowerPC",
  22: "s390",
  40: "32-bit ARM",
  [EM_X86_64]: "x86-64",
  [EM_AARCH64]: "aarch64",
  243: "RISC-V",
  258: "LoongArch",
};

/** A person's name for an ELF `e_machine` value ("x86-64", "aarch64", …). */
export function machineName(machine: number): string {
  return MACHINES[machine] ?? `ELF machine ${machine}`;
}

/** Reads the ELF identification and header of `bytes` (the start of a file is enough: 20 bytes). */
export function readElfHeader(bytes: Uint8Array): ElfHeader | NotElf {
  const head = [...bytes.subarray(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
  if (bytes.length === 0) return { format: "empty", head };
  if (!startsWith(bytes, [0x7f, 0x45, 0x4c, 0x46])) {
    if (startsWith(bytes, [0x50, 0x4b, 0x03, 0x04])) return { format: "zip", head };
    if (startsWith(bytes, [0x23, 0x21])) return { format: "script", head };
    if (startsWith(bytes, [0x4d, 0x5a])) return { format: "pe", head };
    const magic = bytes.length >= 4 ? new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, false) : 0;
    // feedfacf / cffaedfe: 64-bit Mach-O either way round; cafebabe: a universal (fat) binary.
    if ([0xfeedfacf, 0xcffaedfe, 0xfeedface, 0xcefaedfe, 0xcafebabe].includes(magic)) return { format: "mach-o", head };
    return { format: "unknown", head };
  }
  const bits = bytes[4] === 2 ? 64 : bytes[4] === 1 ? 32 : undefined;
  const endian = bytes[5] === 1 ? "little" : bytes[5] === 2 ? "big" : undefined;
  if (bytes.length < 20) return { format: "elf", bits, endian, type: 0, machine: 0 };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const little = endian !== "big";
  return { format: "elf", bits, endian, type: view.getUint16(16, little), machine: view.getUint16(18, little) };
}

function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return prefix.every((b, i) => bytes[i] === b);
}
