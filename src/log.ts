/**
 * Logging to stdout: readable lines on a terminal, JSON Lines otherwise (LOG_FORMAT).
 * The only module that touches the console and the logging library.
 */
import {
  configureSync,
  getJsonLinesFormatter,
  getLogger,
  type Logger as LibLogger,
  type LogRecord,
  resetSync,
} from "@logtape/logtape";

/** Log levels accepted in `LOG_LEVEL` (any case; `WARN` is an alias of `WARNING`). */
export type LogLevel = "debug" | "info" | "warning" | "error";

/** The logging surface the rest of the code uses. */
export interface Logger {
  debug(message: string, props?: Record<string, unknown>): void;
  info(message: string, props?: Record<string, unknown>): void;
  warn(message: string, props?: Record<string, unknown>): void;
  error(message: string, props?: Record<string, unknown>): void;
}

/** `LOG_FORMAT`: `auto` is `text` on a terminal and `json` otherwise. */
export type LogFormat = "auto" | "json" | "text";

/** The format `auto` stands for here: readable lines on a terminal, JSON for anything else. */
export function resolveLogFormat(format: LogFormat, isTerminal: boolean = Deno.stdout.isTerminal()): "json" | "text" {
  return format === "auto" ? (isTerminal ? "text" : "json") : format;
}

/** Where formatted lines go; stdout unless a test passes its own. */
export type LineWriter = (line: string) => void;

const encoder = new TextEncoder();
const stdoutWriter: LineWriter = (line) => {
  const bytes = encoder.encode(line);
  let written = 0;
  while (written < bytes.length) written += Deno.stdout.writeSync(bytes.subarray(written));
};

function consoleFormat(record: LogRecord): string {
  const time = new Date(record.timestamp).toISOString().replace("T", " ").replace("Z", "");
  const message = record.message.map((part) => (typeof part === "string" ? part : JSON.stringify(part))).join(
    "",
  );
  const props = Object.entries(record.properties)
    .map(([k, v]) => `${k}=${typeof v === "string" && !/\s/.test(v) ? v : JSON.stringify(v)}`)
    .join(" ");
  const level = record.level.toUpperCase().padEnd(7);
  return `${time} ${level} ${message}${props ? ` ${props}` : ""}\n`;
}

/** Configures logging once per process (again in tests: it resets first). */
export function setupLogging(
  options: { level: LogLevel; format: LogFormat; write?: LineWriter },
): void {
  const write = options.write ?? stdoutWriter;
  const format = resolveLogFormat(options.format) === "json"
    ? getJsonLinesFormatter({ categorySeparator: ".", message: "rendered", properties: "flatten" })
    : consoleFormat;
  resetSync();
  configureSync({
    reset: true,
    sinks: { out: (record: LogRecord) => write(format(record)) },
    loggers: [
      { category: ["db-writer"], lowestLevel: options.level, sinks: ["out"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: ["out"] },
    ],
  });
}

/** A logger for one part of the service, e.g. `logger("pipeline")`. */
export function logger(part: string): Logger {
  const lib: LibLogger = getLogger(["db-writer", part]);
  return {
    debug: (m, p) => lib.debug(m, p ?? {}),
    info: (m, p) => lib.info(m, p ?? {}),
    warn: (m, p) => lib.warn(m, p ?? {}),
    error: (m, p) => lib.error(m, p ?? {}),
  };
}

/** Writes a line for a person straight to stdout (CLI output, not a log record). */
export function printLine(text: string): void {
  stdoutWriter(`${text}\n`);
}

/** Writes a line to stderr (usage and configuration errors before logging is set up). */
export function printError(text: string): void {
  writeStderr(`${text}\n`);
}

/** Writes `text` to stderr as it is (no newline added), all of it. */
export function writeStderr(text: string): void {
  const bytes = encoder.encode(text);
  let written = 0;
  while (written < bytes.length) written += Deno.stderr.writeSync(bytes.subarray(written));
}
