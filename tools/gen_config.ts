/**
 * Writes the files generated from the settings table (src/config/settings.ts):
 *
 * - `.env.example`: every setting with its default, by group;
 * - `docs/configuration.md`: the reference between `<!-- settings:begin -->` and `<!-- settings:end -->`;
 * - `service.flags`: the service's permission and V8 flags, read by every task that runs or builds it.
 *
 *   deno task gen            # rewrite them
 *   deno task gen --check    # exit 1 and name the stale ones (CI and a test run this)
 */
import { GROUPS, type Setting } from "../src/config/setting.ts";
import { LIBRARY_VARIABLES, SETTING_LIST } from "../src/config/settings.ts";

const ROOT = new URL("../", import.meta.url);

/** Files the service reads: `.env` and `certs/` relative to its working directory, the rest to the project. */
export const READ_PATHS = [".env", "db/migrations", "certs", "/etc/db-writer"] as const;

/** The V8 heap bounds of the service: a 16 MB young generation measured against the 150 MB peak RSS goal (docs/performance.md, Memory). */
export const V8_FLAGS = ["--max-semi-space-size=16", "--max-old-space-size=256"] as const;

/** Every environment name the service may read: the table's (with aliases) and the libraries'. */
export function allowedEnv(): string[] {
  return [...SETTING_LIST.flatMap((s) => [s.env, ...(s.aliases ?? []).map((a) => a.env)]), ...LIBRARY_VARIABLES];
}

/** service.flags: one flag per line, in the order `deno run` takes them. */
export function renderFlags(): string {
  return [
    `--v8-flags=${V8_FLAGS.join(",")}`,
    "--allow-net",
    `--allow-env=${allowedEnv().join(",")}`,
    "--ignore-env",
    `--allow-read=${READ_PATHS.join(",")}`,
    "--allow-sys=hostname",
    "--no-prompt",
  ].join("\n") + "\n";
}

type Row = Setting<unknown>;

const plain = (s: string) => s.replaceAll("`", "");

function shownDefault(s: Row): string {
  if (s.visibility === "secret") return "none";
  return s.shownDefault === "" ? "unset" : s.shownDefault;
}

function accepts(s: Row): string | undefined {
  return s.expected === "text" ? undefined : s.expected;
}

function layoutNote(s: Row): string | undefined {
  const entries = Object.entries(s.layoutDefaults ?? {});
  if (entries.length === 0) return undefined;
  return entries.map(([layout, value]) => `With TABLE_LAYOUT=${layout} the default is \`${value}\`.`).join(" ");
}

function aliasNote(s: Row): string | undefined {
  if (!s.aliases?.length) return undefined;
  return `Also read from ${
    s.aliases.map((a) => `${a.env}${a.note ? ` (${a.note})` : ""}`).join(", ")
  } when ${s.env} is unset.`;
}

/** Wraps `text` into `# ` comment lines of at most `width` characters. */
function comment(text: string, width = 118): string[] {
  const lines: string[] = [];
  let line = "#";
  for (const word of text.split(/\s+/)) {
    if (line.length + 1 + word.length > width && line !== "#") {
      lines.push(line);
      line = "#";
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines;
}

/** `.env.example`. */
export function renderEnvExample(): string {
  const out = [
    "# db-writer configuration, generated from the settings table (deno task gen); do not edit by hand.",
    "#",
    "# Copy to .env in the working directory and uncomment what you need to change. Every line shows the",
    "# default; real environment variables win over .env. A bad value stops the service before it connects",
    "# anywhere (exit code 2), with one line per problem. Reference: docs/configuration.md.",
  ];
  for (const [group, title] of Object.entries(GROUPS)) {
    const rows = SETTING_LIST.filter((s) => s.group === group);
    if (rows.length === 0) continue;
    out.push("", `# --- ${title} ${"-".repeat(Math.max(3, 100 - title.length))}`);
    for (const s of rows) {
      const layout = layoutNote(s);
      const text = [
        plain(s.doc),
        accepts(s) && `Accepts ${accepts(s)}.`,
        `Default: ${shownDefault(s)}.`,
        layout && plain(layout),
        aliasNote(s),
      ].filter(Boolean).join(" ");
      out.push("", ...comment(text));
      const value = s.example ?? (s.visibility === "secret" || s.shownDefault.startsWith("<") ? "" : s.shownDefault);
      out.push(`# ${s.env}=${value}`);
    }
  }
  return out.join("\n") + "\n";
}

const cell = (s: string) => s.replaceAll("|", "\\|").replaceAll("\n", " ");

/** The generated part of docs/configuration.md (before formatting). */
export function renderReference(): string {
  const out: string[] = [];
  for (const [group, title] of Object.entries(GROUPS)) {
    const rows = SETTING_LIST.filter((s) => s.group === group);
    if (rows.length === 0) continue;
    out.push(`### ${title}`, "", "| variable | default | meaning |", "| --- | --- | --- |");
    for (const s of rows) {
      const meaning = [s.doc, accepts(s) && `Accepts ${accepts(s)}.`, layoutNote(s), aliasNote(s)].filter(Boolean).join(
        " ",
      );
      const def = shownDefault(s);
      const shown = def === "unset" || def === "none" || def.includes(" ") ? def : `\`${def}\``;
      out.push(`| \`${s.env}\` | ${shown} | ${cell(meaning)} |`);
    }
    out.push("");
  }
  return out.join("\n");
}

const BEGIN = "<!-- settings:begin -->", END = "<!-- settings:end -->";

/** docs/configuration.md with its generated part replaced, formatted as `deno fmt` would. */
export async function renderConfigurationDoc(current: string): Promise<string> {
  const from = current.indexOf(BEGIN), to = current.indexOf(END);
  if (from < 0 || to < from) throw new Error(`docs/configuration.md must hold ${BEGIN} … ${END}`);
  const doc = `${current.slice(0, from + BEGIN.length)}\n\n${renderReference()}\n${current.slice(to)}`;
  return await formatMarkdown(doc);
}

async function formatMarkdown(text: string): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext=md", "-"],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  if (code !== 0) throw new Error(`deno fmt failed: ${new TextDecoder().decode(stderr)}`);
  return new TextDecoder().decode(stdout);
}

/** Every generated file: path (relative to the project) → wanted content. */
export async function generatedFiles(): Promise<Record<string, string>> {
  const doc = await Deno.readTextFile(new URL("docs/configuration.md", ROOT));
  return {
    ".env.example": renderEnvExample(),
    "docs/configuration.md": await renderConfigurationDoc(doc),
    "service.flags": renderFlags(),
  };
}

/** The generated files whose content on disk differs from what the table gives. */
export async function staleFiles(): Promise<string[]> {
  const stale: string[] = [];
  for (const [path, want] of Object.entries(await generatedFiles())) {
    const have = await Deno.readTextFile(new URL(path, ROOT)).catch(() => undefined);
    if (have !== want) stale.push(path);
  }
  return stale;
}

if (import.meta.main) {
  const out = (line: string) => Deno.stderr.writeSync(new TextEncoder().encode(`${line}\n`));
  if (Deno.args.includes("--check")) {
    const stale = await staleFiles();
    if (stale.length > 0) {
      out(`stale generated files: ${stale.join(", ")}; run deno task gen`);
      Deno.exit(1);
    }
    out("generated files are up to date");
  } else {
    for (const [path, content] of Object.entries(await generatedFiles())) {
      await Deno.writeTextFile(new URL(path, ROOT), content);
      out(`wrote ${path}`);
    }
  }
}
