/** The HTTP port's authentication and TLS, from the settings (shared by the server and `health`). */
import type { Config } from "../config/load.ts";
import type { HttpAuth } from "./http.ts";

/** The credentials the settings ask for, or undefined when the port is open. */
export function httpAuth(config: Config): HttpAuth | undefined {
  const basic = config.httpBasicAuthUser !== undefined && config.httpBasicAuthPassword !== undefined
    ? { user: config.httpBasicAuthUser, password: config.httpBasicAuthPassword }
    : undefined;
  if (config.httpBearerToken === undefined && basic === undefined) return undefined;
  return { bearerToken: config.httpBearerToken, basic };
}

/**
 * The certificate and key files' contents when HTTPS is on.
 * @throws {Error} when a file cannot be read (validated at start, so only if it changed since).
 */
export function httpTls(config: Config): { cert: string; key: string } | undefined {
  if (config.httpTlsCertFile === undefined || config.httpTlsKeyFile === undefined) return undefined;
  return { cert: Deno.readTextFileSync(config.httpTlsCertFile), key: Deno.readTextFileSync(config.httpTlsKeyFile) };
}

/** The Authorization header `health` sends to its own instance, if any. */
export function authorizationHeader(config: Config): Record<string, string> {
  const auth = httpAuth(config);
  if (auth?.bearerToken !== undefined) return { authorization: `Bearer ${auth.bearerToken}` };
  if (auth?.basic) {
    const raw = new TextEncoder().encode(`${auth.basic.user}:${auth.basic.password}`);
    return { authorization: `Basic ${btoa(String.fromCharCode(...raw))}` };
  }
  return {};
}
