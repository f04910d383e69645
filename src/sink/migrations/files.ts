/**
 * The migration files: `db/migrations/NNNN_name.up.sql` and `.down.sql`,
 * paired and checksummed. The compiled binary carries its own copy.
 */
import { MigrationError } from "../../errors.ts";
import type { Layout } from "../layout.ts";

/** One migration as found on disk. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly up: string;
  readonly down: string | undefined;
  readonly checksum: string;
}

const FILE_RE = /^(\d{4})_([a-z0-9_]+)\.(up|down)\.sql$/;

/** The migrations shipped with the service (also inside the compiled binary): the `readings` layout's. */
export const MIGRATIONS_DIR = new URL("../../../db/migrations/", import.meta.url);

/** The migrations of a table layout: `readings` in db/migrations/, any other in its own subdirectory. */
export function migrationsDir(layout: Layout): URL {
  return layout === "readings" ? MIGRATIONS_DIR : new URL(`${layout}/`, MIGRATIONS_DIR);
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Reads and pairs the migration files in `dir`, in version order.
 * @throws {MigrationError} for a stray file name or an up file missing.
 */
export async function loadMigrations(dir: URL = MIGRATIONS_DIR): Promise<Migration[]> {
  const found = new Map<number, { name: string; up?: string; down?: string }>();
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile || !entry.name.endsWith(".sql")) continue;
    const m = FILE_RE.exec(entry.name);
    if (!m) throw new MigrationError(`cannot use migration file ${entry.name}: expected NNNN_name.up.sql or .down.sql`);
    const version = Number(m[1]);
    const slot = found.get(version) ?? { name: m[2]! };
    if (slot.name !== m[2]) throw new MigrationError(`migration ${m[1]} has two names: ${slot.name} and ${m[2]}`);
    const text = await Deno.readTextFile(new URL(entry.name, dir));
    if (m[3] === "up") slot.up = text;
    else slot.down = text;
    found.set(version, slot);
  }
  const list: Migration[] = [];
  for (const [version, slot] of [...found].sort((a, b) => a[0] - b[0])) {
    if (slot.up === undefined) throw new MigrationError(`migration ${version} (${slot.name}) has no .up.sql file`);
    list.push({ version, name: slot.name, up: slot.up, down: slot.down, checksum: await sha256(slot.up) });
  }
  return list;
}
