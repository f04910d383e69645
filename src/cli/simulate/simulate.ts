/**
 * `db-writer simulate`: a load generator that writes realistic sensor
 * messages (and, on request, malformed ones) into Redis, pipelined in chunks,
 * optionally paced, until the count is reached or SIGINT/SIGTERM.
 */
import type { Config } from "../../config/load.ts";
import { UsageError } from "../../errors.ts";
import { printError, printLine, writeStderr } from "../../log.ts";
import { sleep } from "../../async/delay.ts";
import { onShutdownSignals } from "../../shutdown.ts";
import { intFlag, numberFlag, parseFlags } from "../args.ts";
import { globMatches } from "./glob.ts";
import { withRedis } from "../with_redis.ts";
import { ProgressLine } from "./progress.ts";
import { isCluster, type RedisClient } from "../../source/redis.ts";
import {
  generateMessages,
  type GeneratorOptions,
  seededRng,
  type Shape,
  type SimMessage,
  streamKeys,
} from "./messages.ts";

/** What a flag means when it is not given (the help text shows these). */
const DEFAULTS = {
  sensors: "temperature,humidity,co2,pressure,light,noise,pm25",
  devices: 5,
  count: 1000,
  shape: "per-sensor",
  stream: "mqtt:ingestion",
  prefix: "mqtt_stream",
} as const;

/** Help text of `db-writer simulate`. */
export const SIMULATE_USAGE = `Usage: db-writer simulate --devices N --rate R [--duration S | --count C]
                          [--shape per-sensor|single|both] [--layout readings|telemetry]
                          [--bad-ratio X] [options]

Writes realistic sensor readings into Redis, in the per-sensor shape
(<prefix>:<device>:<sensor>, fields value, timestamp, metadata), the single-stream
shape (one stream, fields device_id, metric, value, timestamp, unit, metadata),
or both. Stops after --count messages or --duration seconds, or on Ctrl-C / SIGTERM.
Progress (sent, rate, elapsed) goes to stderr: redrawn in place on a terminal,
a line every 5 s otherwise.

Options:
  --devices N        devices to simulate, sim-001 … (default ${DEFAULTS.devices})
  --rate R           messages per second (default 0 = as fast as possible)
  --count C          messages in total (default ${DEFAULTS.count}; 0 = until stopped)
  --duration S       run for S seconds (decimals allowed) instead of a count
  --shape SHAPE      per-sensor | single | both (default ${DEFAULTS.shape}); shared = single
  --layout LAYOUT    readings | telemetry (default: TABLE_LAYOUT). telemetry writes what the
                     iotDashboard's ingestion service writes today: the single stream only,
                     fields device_id, metric, value, timestamp (no unit, no metadata);
                     its devices sim-001 … must be registered in the devices table
  --bad-ratio X      share of deliberately malformed messages, 0.0 to 1.0 (default 0):
                     non-numeric value, bad or missing timestamp, missing field,
                     metadata not a JSON object
  --sensors LIST     comma-separated sensor types (also known: battery; others drift
                     between 0 and 100), default:
                     ${DEFAULTS.sensors}
  --stream KEY       the single stream (default ${DEFAULTS.stream})
  --prefix PREFIX    per-sensor stream prefix (default ${DEFAULTS.prefix})
  --seed N           seed for a repeatable run, 0 to 4294967295 (default random)
  -h, --help         show this help

Prints a progress line on stderr while running, and at the end: sent N messages (M malformed) to K streams in T s

Examples:
  db-writer simulate --count 1000
  db-writer simulate --devices 20 --rate 50 --duration 60
  db-writer simulate --count 0 --rate 50 --devices 20        # until Ctrl-C
  db-writer simulate --shape single --stream mqtt:ingestion --bad-ratio 0.05 --seed 7
  db-writer simulate --layout telemetry --devices 3 --count 300`;

/** Messages per pipelined round trip when not paced. */
const CHUNK = 500;

/** What a run was asked to do. */
interface SimulateOptions extends GeneratorOptions {
  readonly count: number;
  /** Stop after this long (ms), or 0 for no time limit. */
  readonly durationMs: number;
  readonly rate: number;
  readonly seed: number;
}

function parseOptions(args: readonly string[], config: Config): SimulateOptions | undefined {
  const v = parseFlags("simulate", args, {
    devices: { type: "string" },
    sensors: { type: "string" },
    count: { type: "string" },
    duration: { type: "string" },
    rate: { type: "string" },
    shape: { type: "string" },
    layout: { type: "string" },
    stream: { type: "string" },
    prefix: { type: "string" },
    "bad-ratio": { type: "string" },
    seed: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (v.help) return undefined;
  const shape = (v.shape === "single" ? "shared" : v.shape ?? DEFAULTS.shape) as Shape;
  if (!["per-sensor", "shared", "both"].includes(shape)) {
    throw new UsageError(
      `simulate: --shape must be per-sensor, single (or shared) or both, got ${JSON.stringify(v.shape)}`,
    );
  }
  const layout = v.layout ?? config.tableLayout;
  if (layout !== "readings" && layout !== "telemetry") {
    throw new UsageError(`simulate: --layout must be readings or telemetry, got ${JSON.stringify(v.layout)}`);
  }
  const telemetry = layout === "telemetry";
  if (telemetry && v.shape !== undefined && shape !== "shared") {
    throw new UsageError(
      `simulate: --layout telemetry writes the single stream only; --shape ${v.shape} does not apply`,
    );
  }
  if (v.duration !== undefined && v.count !== undefined) {
    throw new UsageError("simulate: give either --count C or --duration S, not both");
  }
  const durationMs = Math.round(
    // A timer holds at most 2^31 - 1 ms (about 24.8 days); a longer one would fire at once.
    numberFlag("simulate", "duration", v.duration, 0, 0.001, 2_147_483) * 1000,
  );
  const sensors = (v.sensors ?? DEFAULTS.sensors).split(",").map((s) => s.trim()).filter((s) => s);
  const badSensor = sensors.find((s) => /\s/.test(s) || s.length > 100);
  if (sensors.length === 0 || badSensor !== undefined) {
    throw new UsageError(
      `simulate: --sensors must be a comma-separated list of sensor types (no spaces, at most 100 characters each), got ${
        JSON.stringify(v.sensors)
      }`,
    );
  }
  const keyFlag = (flag: string, raw: string | undefined, def: string) => {
    const s = raw ?? def;
    if (s === "" || /\s/.test(s)) {
      throw new UsageError(`simulate: --${flag} must be a Redis key without spaces, got ${JSON.stringify(raw)}`);
    }
    return s;
  };
  return {
    devices: intFlag("simulate", "devices", v.devices, DEFAULTS.devices, 1, 100_000),
    sensors: [...new Set(sensors)],
    count: v.duration !== undefined ? 0 : intFlag("simulate", "count", v.count, DEFAULTS.count, 0),
    durationMs,
    rate: numberFlag("simulate", "rate", v.rate, 0, 0, Number.POSITIVE_INFINITY),
    shape: telemetry ? "shared" : shape,
    telemetry,
    stream: keyFlag("stream", v.stream, DEFAULTS.stream),
    prefix: keyFlag("prefix", v.prefix, DEFAULTS.prefix),
    badRatio: numberFlag("simulate", "bad-ratio", v["bad-ratio"], 0, 0, 1),
    seed: intFlag("simulate", "seed", v.seed, crypto.getRandomValues(new Uint32Array(1))[0]!, 0, 2 ** 32 - 1),
  };
}

/** Runs the simulator; resolves with the exit code. */
export async function runSimulate(config: Config, args: readonly string[]): Promise<number> {
  const opts = parseOptions(args, config);
  if (!opts) {
    printLine(SIMULATE_USAGE);
    return 0;
  }
  const keys = streamKeys(opts);
  if (keys.includes(config.deadLetterStream)) {
    throw new UsageError(
      `simulate: ${config.deadLetterStream} is the dead-letter stream (DEAD_LETTER_STREAM), which is never consumed; choose another --stream or --prefix`,
    );
  }
  const unread = keys.filter((k) => !config.streamPatterns.some((p) => globMatches(p, k)));
  if (unread.length > 0) {
    printError(
      `simulate: note: ${unread.length} of ${keys.length} stream(s) (e.g. ${unread[0]}) do not match STREAM_PATTERN=${
        config.streamPatterns.join(",")
      }; the service will not consume them`,
    );
  }

  const stop = new AbortController();
  const unwire = onShutdownSignals(stop, {
    onHardExit: (sig) => {
      printError(`simulate: second ${sig}: exiting now`);
      Deno.exit(130);
    },
  });
  const progress = { sent: 0, malformed: 0, streams: new Set<string>() };
  const started = performance.now();
  const line = new ProgressLine(writeStderr, { terminal: Deno.stderr.isTerminal() });
  const deadline = opts.durationMs > 0 ? AbortSignal.timeout(opts.durationMs) : undefined;
  const signal = deadline ? AbortSignal.any([stop.signal, deadline]) : stop.signal;
  try {
    await withRedis(
      config.redis,
      "db-writer:simulate",
      (redis) => send(redis, opts, signal, progress, () => line.update(progress)),
    );
  } finally {
    line.finish();
    unwire();
    const seconds = ((performance.now() - started) / 1000).toFixed(2);
    printLine(
      `sent ${progress.sent} messages (${progress.malformed} malformed) to ${progress.streams.size} streams in ${seconds} s`,
    );
  }
  return 0;
}

/** Writes messages until the count is reached or `signal` aborts, updating `progress` after each chunk. */
async function send(
  redis: RedisClient,
  opts: SimulateOptions,
  signal: AbortSignal,
  progress: { sent: number; malformed: number; streams: Set<string> },
  onProgress: () => void,
): Promise<void> {
  const messages = generateMessages(opts, seededRng(opts.seed), Date.now);
  // When paced, send about a tenth of a second's worth per round trip.
  const chunk = opts.rate > 0 ? Math.max(1, Math.min(CHUNK, Math.ceil(opts.rate / 10))) : CHUNK;
  const started = performance.now();
  while (!signal.aborted && (opts.count === 0 || progress.sent < opts.count)) {
    if (opts.rate > 0) {
      await sleep(started + (progress.sent / opts.rate) * 1000 - performance.now(), signal);
      if (signal.aborted) break;
    }
    const n = opts.count === 0 ? chunk : Math.min(chunk, opts.count - progress.sent);
    const streams: string[] = [];
    const batch: SimMessage[] = [];
    let bad = 0;
    for (let i = 0; i < n; i++) {
      const m: SimMessage = messages.next().value;
      batch.push(m);
      streams.push(m.stream);
      if (m.defect) bad++;
    }
    if (isCluster(redis)) {
      // A pipeline may not span nodes: send concurrently, each to its key's node.
      await Promise.all(batch.map((m) => redis.xadd(m.stream, "*", ...Object.entries(m.fields).flat())));
    } else {
      const pipe = redis.pipeline();
      for (const m of batch) pipe.xadd(m.stream, "*", ...Object.entries(m.fields).flat());
      const results = (await pipe.exec()) ?? [];
      const failed = results.find(([err]) => err);
      if (failed) throw failed[0];
    }
    progress.sent += n;
    progress.malformed += bad;
    for (const s of streams) progress.streams.add(s);
    onProgress();
  }
}
