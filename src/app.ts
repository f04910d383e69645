/**
 * Builds the service from a {@link Config}: Redis and PostgreSQL connections,
 * the source, the sink, the dead letters, the pipeline and the operations
 * side (HTTP, lag, stats), all owned by one disposable {@link App}.
 */
import type { Config } from "./config/load.ts";
import { redactedConfig } from "./config/redact.ts";
import { type Logger, logger } from "./log.ts";
import { classify, describe, MigrationError } from "./errors.ts";
import { retry, RetryAbortedError } from "./retry.ts";
import { sleep } from "./async/delay.ts";
import { Pipeline } from "./pipeline.ts";
import { openRedis } from "./source/redis.ts";
import { StreamDiscovery } from "./source/discovery.ts";
import { RedisSource } from "./source/consumer.ts";
import { DeadLetterWriter } from "./dead_letters/writer.ts";
import { openPostgres } from "./sink/client.ts";
import { PostgresSink } from "./sink/writer.ts";
import { tableLabel } from "./sink/table.ts";
import { loadMigrations } from "./sink/migrations/files.ts";
import { Migrator } from "./sink/migrations/runner.ts";
import { Outage } from "./ops/outage.ts";
import { Stats, StatsReporter } from "./ops/stats.ts";
import { LagMonitor } from "./ops/lag.ts";
import { serveHttp } from "./ops/http.ts";
import { httpAuth, httpTls } from "./ops/http_config.ts";
import { boundedPing, Readiness } from "./ops/readiness.ts";
import { pingRedis } from "./source/redis.ts";
import { renderMetrics } from "./ops/metrics.ts";
import { batchByteBudget, heapLimitBytes, heapWarning } from "./ops/memory.ts";
import { VERSION } from "./version.ts";

/** The whole service; `await using` (or disposing it) closes every connection and timer. */
export interface App extends AsyncDisposable {
  /**
   * Migrates (when MIGRATE_ON_START), then consumes until `stop` aborts and the
   * batches in hand are done; `hard` (the shutdown deadline) cuts that short.
   * Resolves with the process exit code.
   */
  run(stop: AbortSignal, hard: AbortSignal): Promise<number>;
}

/**
 * Creates every part of the service; nothing is read or written until {@link App.run}.
 * @throws {Error} when a TLS file named in the configuration cannot be read.
 */
export function createApp(config: Config): App {
  const log = logger("service");
  const stack = new AsyncDisposableStack();
  try {
    return build(config, log, stack);
  } catch (err) {
    void stack.disposeAsync();
    throw err;
  }
}

function build(config: Config, log: Logger, stack: AsyncDisposableStack): App {
  const redisOutage = new Outage("redis", logger("redis"));
  const dbOutage = new Outage("postgres", logger("postgres"));
  const stats = new Stats();
  const lagTotals = () => lag.totals();
  const reporter = new StatsReporter(stats, logger("stats"), Date.now, lagTotals);
  // The last line of a run, once every connection is closed (deferred first, so disposed last).
  stack.defer(() => reporter.final());
  const onRedisError = (err: Error) => {
    if (classify(err) === "transient") redisOutage.failed(err);
    else logger("redis").error("redis connection error", { error: describe(err) });
  };
  // Connections close together, each within its own bound: one silent server must not hold up the others.
  const connections: AsyncDisposable[] = [];
  stack.defer(async () => {
    await Promise.all(connections.map((c) => c[Symbol.asyncDispose]()));
  });
  const own = <T extends AsyncDisposable>(c: T): T => (connections.push(c), c);
  const sql = own(openPostgres(config.databaseUrl, { max: config.dbPoolSize }));
  const cmd = own(openRedis(config.redis, {
    name: `db-writer:${config.consumerName}`,
    commandTimeoutMs: 15_000,
    onError: onRedisError,
  }));
  const blocking = own(openRedis(config.redis, {
    name: `db-writer:${config.consumerName}:read`,
    commandTimeoutMs: config.batchTimeoutMs + 15_000,
    onError: onRedisError,
  }));
  // Readiness pings on connections of their own: no request rate reaches the writers' pool.
  const probeSql = own(openPostgres(config.databaseUrl, { max: 1, connectTimeoutSec: 2 }));
  const probeRedis = own(openRedis(config.redis, {
    name: `db-writer:${config.consumerName}:probe`,
    commandTimeoutMs: 1000,
    onError: () => {},
  }));
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
    batchMaxBytes: batchByteBudget(config, heapLimitBytes()),
    maxMessageBytes: config.maxMessageBytes,
    blockMs: config.batchTimeoutMs,
    claimMinIdleMs: config.claimMinIdleMs,
    consumerRemoveIdleMs: config.consumerRemoveIdleMs,
    discoveryIntervalMs: config.discoveryIntervalMs,
    log: logger("consumer"),
  });
  const lag = new LagMonitor(cmd, {
    group: config.consumerGroup,
    streams: () => discovery.streams,
    scanned: () => discovery.scanned,
    intervalMs: config.lagIntervalMs,
    log: logger("lag"),
  });
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
    writeTimeoutMs: config.writeTimeoutMs,
    processingIntervalMs: config.processingIntervalMs,
    writers: config.writeConcurrency,
    limits: {
      maxMessageBytes: config.maxMessageBytes,
      maxMessageFields: config.maxMessageFields,
      maxMetadataBytes: config.maxMetadataBytes,
      maxMetadataDepth: config.maxMetadataDepth,
    },
  });

  const readiness = new Readiness({
    running: () => pipeline.running,
    oldestBatchMs: () => pipeline.oldestBatchMs(),
    stallMs: config.writeTimeoutMs,
    redisOutage,
    dbOutage,
    pingRedis: () => pingRedis(probeRedis, 1000),
    pingDatabase: boundedPing(() => probeSql`select 1`.execute(), 1000),
  });

  /** Starts the HTTP server, owned by the stack; false (logged) when it cannot listen. */
  const startHttp = (stop: AbortSignal): boolean => {
    if (config.httpPort === 0) return true;
    const httpStop = new AbortController();
    try {
      const http = serveHttp({
        hostname: config.httpHost,
        port: config.httpPort,
        signal: httpStop.signal,
        log,
        auth: httpAuth(config),
        tls: httpTls(config),
      }, {
        live: () => !stop.aborted || pipeline.running,
        ready: async () => {
          const { running, redis, database, ready } = await readiness.check();
          return { running, redis, database, ready, lag: lag.snapshot?.lag ?? null, stats: stats.snapshot() };
        },
        metrics: async () => {
          const { running, redis, database, ready } = await readiness.check();
          return renderMetrics(stats, {
            running,
            redis,
            database,
            ready,
            lag: lag.snapshot,
            outages: { redis: redisOutage.count, database: dbOutage.count },
            memory: Deno.memoryUsage(),
          });
        },
      });
      stack.defer(async () => {
        httpStop.abort();
        await http.finished.catch(() => {});
      });
      return true;
    } catch (err) {
      log.error("cannot start the HTTP server; set HTTP_PORT to a free port, or 0 to turn it off", {
        port: config.httpPort,
        error: describe(err),
      });
      return false;
    }
  };

  /** Refreshes the lag until disposed; a refresh in flight against a silent Redis holds the shutdown 1 s at most. */
  const startLag = (): void => {
    const lagStop = new AbortController();
    const loop = lag.run(lagStop.signal);
    stack.defer(async () => {
      lagStop.abort();
      const bound = new AbortController();
      await Promise.race([loop, sleep(1000, bound.signal)]);
      bound.abort();
    });
  };

  const migrate = async (stop: AbortSignal): Promise<void> => {
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
      signal: stop,
      shouldRetry: (err) => classify(err instanceof MigrationError ? err.cause : err) === "transient",
      onFailure: (err) => dbOutage.failed(err),
      onSuccess: () => dbOutage.ok(),
    });
    log.info("schema up to date", { table: tableLabel(config.table), applied });
  };

  return {
    async run(stop, hard) {
      log.info("starting db-writer", { version: VERSION, config: redactedConfig(config) });
      const heap = heapWarning(config, heapLimitBytes());
      if (heap) log.warn("memory: the largest batches allowed may not fit in the heap", { problem: heap });
      const abortRead = () => void source.interrupt();
      stop.addEventListener("abort", abortRead, { once: true });
      stack.defer(() => stop.removeEventListener("abort", abortRead));
      if (!startHttp(stop)) return 1;
      startLag();
      const statsTimer = setInterval(() => reporter.report(), config.statsIntervalMs);
      stack.defer(() => {
        clearInterval(statsTimer);
        reporter.report();
      });
      try {
        if (config.migrateOnStart) await migrate(stop);
        if (stop.aborted) return 0;
        log.info("consuming", {
          patterns: config.streamPatterns,
          group: config.consumerGroup,
          consumer: config.consumerName,
        });
        const { leftPending } = await pipeline.run(stop, hard);
        if (leftPending === 0) return 0;
        log.warn("shutdown deadline passed; entries left pending will be redelivered", { entries: leftPending });
        return 1;
      } catch (err) {
        if (err instanceof RetryAbortedError) return 0;
        log.error(err instanceof MigrationError ? "migration failed" : "stopped by an unexpected error", {
          error: describe(err),
        });
        return 1;
      }
    },
    [Symbol.asyncDispose]: () => stack.disposeAsync(),
  };
}
