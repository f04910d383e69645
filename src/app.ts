/**
 * Builds the service from a {@link Config}: Redis and PostgreSQL connections,
 * the source, the sink, the dead letters, the pipeline and the operations
 * side (HTTP, lag, stats), all owned by one disposable {@link App}.
 */
import type { Config } from "./config/load.ts";
import { databaseLabel, redactedConfig, redisLabel } from "./config/redact.ts";
import { type Logger, logger } from "./log.ts";
import { classify, describe, incurableAtStart, SchemaError } from "./errors.ts";
import { RetryAbortedError } from "./retry.ts";
import { prepareStart, StartupError } from "./startup.ts";
import { sleep } from "./async/delay.ts";
import { Pipeline } from "./pipeline.ts";
import { openRedis } from "./source/redis.ts";
import { isGlob, StreamDiscovery } from "./source/discovery.ts";
import { NewStreamWatch } from "./source/new_streams.ts";
import { RedisSource } from "./source/consumer.ts";
import { DeadLetterWriter } from "./dead_letters/writer.ts";
import { openPostgres } from "./sink/client.ts";
import { PostgresSink } from "./sink/writer.ts";
import { TelemetrySink } from "./sink/telemetry.ts";
import { metricRulesOf, readEntry } from "./decode/read_entry.ts";
import type { Reading } from "./ports.ts";
import { tableLabel } from "./sink/table.ts";
import { prepareTable } from "./sink/migrations/prepare.ts";
import { Outage } from "./ops/outage.ts";
import { Stats, StatsReporter } from "./ops/stats.ts";
import { LagMonitor } from "./ops/lag.ts";
import { serveHttp } from "./ops/http.ts";
import { httpAuth, httpTls } from "./ops/http_config.ts";
import { boundedPing, Readiness } from "./ops/readiness.ts";
import { pingRedis } from "./source/redis.ts";
import { endpoints } from "./ops/endpoints.ts";
import { batchByteBudget, heapLimitBytes, heapWarning } from "./ops/memory.ts";
import { leftoverWarnings } from "./config/leftovers.ts";
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
  // An outage line still waiting for its cause is written before that last line.
  stack.defer(() => (redisOutage.flush(), dbOutage.flush()));
  let started = false;
  let redisRefused: Error | undefined;
  const onRedisError = (err: Error) => {
    // Refused credentials before the start are reported once, by the start-up check (exit 1);
    // once running they are an outage like any other.
    if (!started && incurableAtStart(err)) return void (redisRefused = err);
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
    watchNewStreams: () =>
      NewStreamWatch.start(cmd, {
        setting: config.newStreamNotify,
        settings: config.redis,
        name: `db-writer:${config.consumerName}:notify`,
        globs: config.streamPatterns.filter(isGlob),
        log: logger("discovery"),
      }),
    log: logger("consumer"),
  });
  stack.defer(() => source.close());
  const lag = new LagMonitor(cmd, {
    group: config.consumerGroup,
    streams: () => discovery.streams,
    scanned: () => discovery.scanned,
    intervalMs: config.lagIntervalMs,
    log: logger("lag"),
  });
  const limits = {
    maxMessageBytes: config.maxMessageBytes,
    maxMessageFields: config.maxMessageFields,
    maxMetadataBytes: config.maxMetadataBytes,
    maxMetadataDepth: config.maxMetadataDepth,
  };
  const rules = metricRulesOf(config);
  const check = rules.active ? (r: Reading) => rules.apply(r) : undefined;
  const pipeline = new Pipeline({
    source,
    sink: config.tableLayout === "telemetry"
      ? new TelemetrySink(sql, config.table, (entry) => readEntry(entry, limits, check))
      : new PostgresSink(sql, config.table),
    check,
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
    limits,
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
      }, endpoints({ stop, pipeline, readiness, lag, stats, redisOutage, dbOutage }));
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

  const prepare = async (stop: AbortSignal): Promise<void> => {
    await prepareStart({
      sql,
      redis: cmd,
      table: config.table,
      prepareTable: () => prepareTable(sql, config, logger("migrate"), config.migrateOnStart),
      checkColumns: config.tableLayout === "readings",
      checkIdempotencyKey: config.tableLayout === "readings",
      dbOutage,
      redisRefused: () => redisRefused,
      backoff: { initialMs: config.retryInitialMs, maxMs: config.retryMaxMs },
      log,
    }, stop);
  };

  return {
    async run(stop, hard) {
      log.info("starting db-writer", { version: VERSION, config: redactedConfig(config) });
      const heap = heapWarning(config, heapLimitBytes());
      if (heap) log.warn("memory: the largest batches allowed may not fit in the heap", { problem: heap });
      for (const problem of leftoverWarnings(config)) {
        log.warn("a setting left from the old writer's .env", { problem });
      }
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
        await prepare(stop);
        started = true;
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
        if (err instanceof StartupError) {
          const where = err.dependency === "redis"
            ? { redis: redisLabel(config.redis) }
            : { database: databaseLabel(config.databaseUrl), table: tableLabel(config.table) };
          log.error(err.what, { ...where, error: describe(err.cause) });
          return 1;
        }
        if (err instanceof SchemaError) {
          log.error(`cannot write: ${err.message}; stopping, every entry not stored stays pending`, {
            table: tableLabel(config.table),
          });
          return 1;
        }
        log.error("stopped by an unexpected error", { error: describe(err) });
        return 1;
      }
    },
    [Symbol.asyncDispose]: () => stack.disposeAsync(),
  };
}
