/**
 * HTTP endpoints: `/healthz` (liveness), `/readyz` (readiness, see
 * ops/readiness.ts), `/metrics` (Prometheus text).
 */
import type { HealthReport } from "./health.ts";
import type { Logger } from "../log.ts";

/** What the server asks of the running service. */
export interface HttpHandlers {
  /** Liveness: the process is up and its loop has not died. */
  live(): boolean;
  /** The health report (readiness: at most one ping per dependency per second). */
  ready(): Promise<HealthReport>;
  /** The Prometheus page. */
  metrics(): Promise<string>;
}

function json(body: unknown, status: number): Response {
  return new Response(JSON.stringify(body) + "\n", { status, headers: { "content-type": "application/json" } });
}

/** Answers one request (exported for tests). */
export async function handle(req: Request, h: HttpHandlers): Promise<Response> {
  if (req.method !== "GET" && req.method !== "HEAD") return json({ error: "method not allowed" }, 405);
  switch (new URL(req.url).pathname) {
    case "/healthz": {
      const live = h.live();
      return json({ status: live ? "ok" : "stopped" }, live ? 200 : 503);
    }
    case "/readyz": {
      const report = await h.ready();
      const ok = report.ready ?? (report.redis && report.database && report.running === true);
      return json(report, ok ? 200 : 503);
    }
    case "/metrics":
      return new Response(await h.metrics(), {
        headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
      });
    default:
      return json({ error: "not found", endpoints: ["/healthz", "/readyz", "/metrics"] }, 404);
  }
}

/** Starts the server; it stops when `signal` aborts. */
export function serveHttp(
  opts: { hostname: string; port: number; signal: AbortSignal; log: Logger },
  handlers: HttpHandlers,
): Deno.HttpServer {
  return Deno.serve({
    hostname: opts.hostname,
    port: opts.port,
    signal: opts.signal,
    onListen: ({ hostname, port }) => opts.log.info("http listening", { hostname, port }),
    onError: (err) => {
      opts.log.error("http handler failed", { error: String(err) });
      return json({ error: "internal error" }, 500);
    },
  }, (req) => handle(req, handlers));
}
