/**
 * `db-writer run`: wires the pipeline to real Redis and PostgreSQL, serves
 * HTTP, and drains on SIGTERM/SIGINT.
 */
import type { Config } from "../config.ts";
import { redactedConfig, tableLabel } from "../config.ts";
import { logger } from "../log.ts";
import { classify, describe, MigrationError } from "../errors.ts";
import { Outage } from "../outage.ts";
import { retry, RetryAbortedError, sleep } from "../retry.ts";
import { Stats, StatsReporter } from "../stats.ts";
import { Pipeline } from "../pipeline.ts";
import { closeRedis, connectRedis, startConnecting } from "../source/redis.ts";
import { StreamDiscovery } from "../source/discovery.ts";
import { RedisSource } from "../source/consumer.ts";
import { LagMonitor } from "../source/lag.ts";
import { DeadLetterWriter } from "../source/dead_letter.ts";
import { closePostgres, connectPostgres } from "../sink/client.ts";
import { PostgresSink } from "../sink/writer.ts";
import { loadMigrations, Migrator } from "../sink/migrate.ts";
import { serveHttp } from "../http.ts";
import { checkDependencies } from "../health.ts";
import { renderMetrics } from "../metrics.ts";
import { onShutdownSignals } from "../shutdown.ts";
import { VERSION } from "../version.ts";
import { heapLimitBytes, heapWarning } from "../memory_budget.ts";

/** Runs the service until stopped; resolves with the process exit code. */
export async function runService(config: Config, opts: { stop?: AbortController } = {}): Promise<number> {
  const log = logger("service");
  const stop = opts.stop ?? new AbortController();
  const hard = new AbortController();
  let hardTimer: ReturnType<typeof setTimeout> | undefined;
  // Never unwired: a copy of the first signal (Ctrl-C reaches `deno task` too,
  // which forwards it) may arrive after the drain, and must not kill the
  // process with the default action; main() exits right after this returns.
  onShutdownSignals(stop, {
    onShutdown: (sig) => log.info("shutting down: finishing the batch in hand", { signal: sig }),
    onHardExit: (sig) => {
      log.warn("second signal: exiting now; unfinished entries stay pending", { signal: sig });
      Deno.exit(130);
    },
  });
  stop.signal.addEventListener("abort", () => {
    hardTimer = setTimeout(() => hard.abort(), config.shutdownTimeoutMs);
  }, { once: true });
  // Past the deadline, whatever still hangs (a lock, a silent server) does not
  // hold the process: unacknowledged entries stay pending and are redelivered.
  hard.signal.addEventListener("abort", () => {
    const watchdog = setTimeout(() => {
      log.warn("shutdown deadline passed and work is still stuck; exiting, unfinished entries stay pending", {
        shutdown_timeout_sec: config.shutdownTimeoutMs / 1000,
      });
      Deno.exit(1);
    }, 3000);
    Deno.unrefTimer(watchdog);
  }, { once: true });

  log.info("starting db-writer", { version: VERSION, config: redactedConfig(config) });
  const heap = heapWarning(config, heapLimitBytes());
  if (heap) log.warn("memory: the largest batches allowed may not fit in the heap", { problem: heap });
  const redisOutage = new Outage("redis", logger("redis"));
  const dbOutage = new Outage("postgres", logger("postgres"));
  const sql = connectPostgres(config.databaseUrl, { max: config.dbPoolSize });
  const onRedisError = (err: Error) => {
    if (classify(err) === "transient") redisOutage.failed(err);
    else logger("redis").error("redis connection error", { error: describe(err) });
  };
  const cmd = connectRedis(config.redis, {
    name: `db-writer:${config.consumerName}`,
    commandTimeoutMs: 15_000,
    onError: onRedisError,
  });
  const blocking = connectRedis(config.redis, {
    name: `db-writer:${config.consumerName}:read`,
    commandTimeoutMs: config.batchTimeoutMs + 15_000,
    onError: onRedisError,
  });
  startConnecting(cmd);
  startConnecting(blocking);

  const stats = new Stats();
  // Every "ready" after a client's first is a connection re-established.
  for (const client of [cmd, blocking]) {
    let connected = false;
    client.on("ready", () => {
      if (connected) stats.redisReconnects++;
      connected = true;
    });
  }
  const discovery = new StreamDiscovery(cmd, {
    patterns: config.streamPatterns,
    group: config.consumerGroup,
    deadLetterStream: config.deadLetterStream,
    log: logger("discovery"),
  });
  const source = new RedisSource(cmd, blocking, discovery, {
    group: config.consumerGroup,
    consumer: config.consumerName,
    batchSize: config.batchSize,
    blockMs: config.batchTimeoutMs,
    claimMinIdleMs: config.claimMinIdleMs,
    consumerRemoveIdleMs: config.consumerRemoveIdleMs,
    discoveryIntervalMs: config.discoveryIntervalMs,
    log: logger("consumer"),
  });
  stop.signal.addEventListener("abort", () => void source.interrupt(), { once: true });
  const lag = new LagMonitor(cmd, {
    group: config.consumerGroup,
    streams: () => discovery.streams,
    intervalMs: config.lagIntervalMs,
    log: logger("lag"),
  });
  const lagStop = new AbortController();
  const lagLoop = lag.run(lagStop.signal);
  const pipeline = new Pipeline({
    source,
    sink: new PostgresSink(sql, config.table),
    deadLetters: new DeadLetterWriter(cmd, {
      stream: config.deadLetterStream,
      group: config.consumerGroup,
      maxLen: config.deadLetterMaxLen,
    }),
    log: logger("pipeline"),
    stats,
    redisOutage,
    dbOutage,
    maxDeliveries: config.maxDeliveries,
    backoff: { initialMs: config.retryInitialMs, maxMs: config.retryMaxMs },
    processingIntervalMs: config.processingIntervalMs,
    writers: config.writeConcurrency,
    limits: {
      maxMessageBytes: config.maxMessageBytes,
      maxMessageFields: config.maxMessageFields,
      maxMetadataBytes: config.maxMetadataBytes,
      maxMetadataDepth: config.maxMetadataDepth,
    },
  });

  const httpStop = new AbortController();
  let http: Deno.HttpServer | undefined;
  if (config.httpPort !== 0) {
    try {
      http = serveHttp({ hostname: config.httpHost, port: config.httpPort, signal: httpStop.signal, log }, {
        live: () => !stop.signal.aborted || pipeline.running,
        ready: async () => ({
          running: pipeline.running,
          ...(await checkDependencies(cmd, sql)),
          stats: stats.snapshot(),
        }),
        metrics: () =>
          Promise.resolve(renderMetrics(stats, {
            running: pipeline.running,
            redis: !redisOutage.down,
            database: !dbOutage.down,
            lag: lag.snapshot,
            outages: { redis: redisOutage.count, database: dbOutage.count },
            memory: Deno.memoryUsage(),
          })),
      });
    } catch (err) {
      log.error("cannot start the HTTP server; set HTTP_PORT to a free port, or 0 to turn it off", {
        port: config.httpPort,
        error: describe(err),
      });
      await shutdownAll();
      return 1;
    }
  }

  const reporter = new StatsReporter(stats, logger("stats"), Date.now, () => lag.totals());
  const statsTimer = setInterval(() => reporter.report(), config.statsIntervalMs);

  let exitCode = 0;
  try {
    if (config.migrateOnStart) {
      const migrator = new Migrator(sql, {
        table: config.table,
        enableTimescale: config.enableTimescale,
        timescale: config.timescale,
        migrations: await loadMigrations(),
        log: logger("migrate"),
      });
      const applied = await retry(() => migrator.up(), {
        initialMs: config.retryInitialMs,
        maxMs: config.retryMaxMs,
        signal: stop.signal,
        shouldRetry: (err) => classify(err instanceof MigrationError ? err.cause : err) === "transient",
        onFailure: (err) => dbOutage.failed(err),
        onSuccess: () => dbOutage.ok(),
      });
      log.info("schema up to date", { table: tableLabel(config.table), applied });
    }
    if (!stop.signal.aborted) {
      log.info("consuming", {
        patterns: config.streamPatterns,
        group: config.consumerGroup,
        consumer: config.consumerName,
      });
      const { leftPending } = await pipeline.run(stop.signal, hard.signal);
      if (leftPending > 0) {
        log.warn("shutdown deadline passed; entries left pending will be redelivered", { entries: leftPending });
        exitCode = 1;
      }
    }
  } catch (err) {
    if (!(err instanceof RetryAbortedError)) {
      log.error(err instanceof MigrationError ? "migration failed" : "stopped by an unexpected error", {
        error: describe(err),
      });
      exitCode = 1;
    }
  } finally {
    clearInterval(statsTimer);
    reporter.report();
    await shutdownAll();
    reporter.final();
    log.info("stopped", { exit_code: exitCode });
  }
  return exitCode;

  async function shutdownAll(): Promise<void> {
    clearTimeout(hardTimer);
    lagStop.abort();
    // A refresh in flight against a silent Redis must not hold the shutdown.
    const bound = new AbortController();
    await Promise.race([lagLoop, sleep(1000, bound.signal)]);
    bound.abort();
    httpStop.abort();
    await http?.finished.catch(() => {});
    await Promise.all([closeRedis(cmd), closeRedis(blocking), closePostgres(sql).catch(() => {})]);
  }
}
