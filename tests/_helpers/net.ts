/** Network helpers for tests. */

/** A free TCP port on 127.0.0.1 (listened on once, then closed). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = l.addr;
  l.close();
  return port;
}
