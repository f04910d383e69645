/**
 * What the HTTP port answers, from the running service's parts: liveness,
 * readiness (one computation, see readiness.ts) and the metrics text.
 */
import type { HttpHandlers } from "./http.ts";
import { renderMetrics } from "./metrics.ts";
import type { Readiness } from "./readiness.ts";
import type { LagMonitor } from "./lag.ts";
import type { Stats } from "./stats.ts";
import type { Outage } from "./outage.ts";

/** The parts the endpoints read. */
export interface EndpointSources {
  readonly stop: AbortSignal;
  readonly pipeline: { readonly running: boolean };
  readonly readiness: Readiness;
  readonly lag: LagMonitor;
  readonly stats: Stats;
  readonly redisOutage: Outage;
  readonly dbOutage: Outage;
}

/** The handlers of /healthz, /readyz and /metrics. */
export function endpoints(s: EndpointSources): HttpHandlers {
  const { stop, pipeline, readiness, lag, stats, redisOutage, dbOutage } = s;
  return {
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
  };
}
