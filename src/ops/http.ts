/**
 * HTTP endpoints: `/healthz` (liveness, always open), `/readyz` (readiness,
 * see ops/readiness.ts), `/metrics` (Prometheus text); optional bearer or
 * basic authentication for the last two and TLS, as Prometheus exporters'
 * web configuration offers.
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

/** Who may read /readyz and /metrics (when neither is set, anyone who reaches the port). */
export interface HttpAuth {
  readonly bearerToken?: string;
  readonly basic?: { readonly user: string; readonly password: string };
}

const encoder = new TextEncoder();

/** Compares two strings in time that depends on their lengths only. */
function sameSecret(a: string, b: string): boolean {
  const x = encoder.encode(a), y = encoder.encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < x.length; i++) diff |= x[i]! ^ (y[i % Math.max(1, y.length)] ?? 0);
  return diff === 0;
}

/** True when `auth` asks nothing, or the request's Authorization header satisfies it. */
export function authorized(req: Request, auth: HttpAuth | undefined): boolean {
  if (!auth || (auth.bearerToken === undefined && auth.basic === undefined)) return true;
  const header = req.headers.get("authorization") ?? "";
  const [scheme = "", value = ""] = header.split(/\s+/, 2);
  if (auth.bearerToken !== undefined && scheme.toLowerCase() === "bearer") return sameSecret(value, auth.bearerToken);
  if (auth.basic && scheme.toLowerCase() === "basic") {
    let decoded: string;
    try {
      decoded = new TextDecoder().decode(Uint8Array.from(atob(value), (c) => c.charCodeAt(0)));
    } catch {
      return false;
    }
    const at = decoded.indexOf(":");
    return at >= 0 && sameSecret(decoded.slice(0, at), auth.basic.user) &&
      sameSecret(decoded.slice(at + 1), auth.basic.password);
  }
  return false;
}

function unauthorized(auth: HttpAuth): Response {
  const challenge = auth.basic ? 'Basic realm="db-writer", charset="UTF-8"' : 'Bearer realm="db-writer"';
  return new Response(JSON.stringify({ error: "unauthorized" }) + "\n", {
    status: 401,
    headers: { "content-type": "application/json", "www-authenticate": challenge },
  });
}

/** Answers one request (exported for tests); /healthz is open, the rest need `auth` when set. */
export async function handle(req: Request, h: HttpHandlers, auth?: HttpAuth): Promise<Response> {
  if (req.method !== "GET" && req.method !== "HEAD") return json({ error: "method not allowed" }, 405);
  const path = new URL(req.url).pathname;
  if (path !== "/healthz" && auth && !authorized(req, auth)) return unauthorized(auth);
  switch (path) {
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

/** Starts the server (HTTPS when `tls` is given); it stops when `signal` aborts. */
export function serveHttp(
  opts: {
    hostname: string;
    port: number;
    signal: AbortSignal;
    log: Logger;
    auth?: HttpAuth;
    /** PEM certificate (chain) and key. */
    tls?: { readonly cert: string; readonly key: string };
  },
  handlers: HttpHandlers,
): Deno.HttpServer {
  const auth = opts.auth;
  return Deno.serve({
    hostname: opts.hostname,
    port: opts.port,
    signal: opts.signal,
    ...(opts.tls ? { cert: opts.tls.cert, key: opts.tls.key } : {}),
    onListen: ({ hostname, port }) =>
      opts.log.info("http listening", {
        hostname,
        port,
        tls: opts.tls !== undefined,
        auth: auth?.bearerToken !== undefined || auth?.basic !== undefined,
      }),
    onError: (err) => {
      opts.log.error("http handler failed", { error: String(err) });
      return json({ error: "internal error" }, 500);
    },
  }, (req) => handle(req, handlers, auth));
}
