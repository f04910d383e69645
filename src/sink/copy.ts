/**
 * `COPY … FROM STDIN` of ready-made text through the driver, with the fixes
 * it needs: a server error during the COPY reaches the caller, and an abort
 * cancels it.
 */
import type { Writable } from "node:stream";
import type { Sql } from "./client.ts";

/**
 * Runs a statement whose `signal` cancels it on the server; resolves with the
 * rows it affected.
 */
export async function cancellable(
  query: { cancel(): unknown; then: PromiseLike<{ count: number }>["then"] },
  signal?: AbortSignal,
): Promise<number> {
  const cancel = () => void query.cancel();
  signal?.addEventListener("abort", cancel, { once: true });
  try {
    return (await query).count;
  } finally {
    signal?.removeEventListener("abort", cancel);
  }
}

/** No statement starts once `signal` has aborted (the shutdown deadline): a transient AbortError instead. */
export function notAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new DOMException("aborted before the statement started", "AbortError");
}

/**
 * Runs `statement` (a `COPY … FROM STDIN`) with `text` (COPY text format) as its data.
 * @throws the database's error if any row fails.
 */
export async function copyIn(sql: Sql, statement: string, text: string, signal?: AbortSignal): Promise<void> {
  notAborted(signal);
  const query = sql.unsafe(statement);
  // The driver hands out the COPY stream as the query's result, so an error
  // the server raises during the COPY (a duplicate key, say) reaches only
  // the query's reject function, which is then a no-op, and the stream
  // never finishes. Catch the error there.
  const failed = new Promise<never>((_, reject) => {
    const q = query as unknown as { reject: (err: unknown) => void };
    const original = q.reject;
    q.reject = (err) => {
      reject(err);
      original(err);
    };
  });
  failed.catch(() => {});
  // An error the server raises as the COPY starts (a full disk, a trigger)
  // destroys the stream in the same tick it is handed out, before anyone
  // listens: its "error" event would be uncaught. Listen from the start
  // (the error itself arrives through `failed`).
  {
    const q = query as unknown as { resolve: (v: unknown) => void };
    const resolve = q.resolve;
    q.resolve = (v) => {
      if (typeof (v as { on?: unknown } | null)?.on === "function") (v as Writable).on("error", () => {});
      resolve(v);
    };
  }
  // The driver cancels only a query it deems active, and a query that has
  // handed out its stream is not: mark it so, or a COPY waiting on a lock
  // could never be cancelled.
  const cancel = () => {
    (query as unknown as { active: boolean }).active = true;
    void query.cancel();
  };
  signal?.addEventListener("abort", cancel, { once: true });
  try {
    const writable = await Promise.race([query.writable(), failed]);
    // The driver's stream answers its own destruction (the connection
    // failing under it) by writing CopyFail to whatever socket the
    // connection has by then, possibly a new one mid start-up. There is
    // nothing to tell a lost connection: only pass the error on.
    (writable as unknown as { _destroy: (e: Error | null, cb: (e: Error | null) => void) => void })._destroy = (
      e,
      cb,
    ) => cb(e);
    const finished = new Promise<void>((resolve, reject) => {
      writable.on("error", reject);
      writable.on("finish", () => resolve());
      writable.end(text);
    });
    await Promise.race([finished, failed]);
  } finally {
    signal?.removeEventListener("abort", cancel);
  }
}

/** Escapes a value for COPY's text format (NUL never gets this far: decoding rejects it). */
export function copyEscape(v: string): string {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 92 || c === 9 || c === 10 || c === 13) {
      return v.replace(
        /[\\\t\n\r]/g,
        (ch) => (ch === "\\" ? "\\\\" : ch === "\t" ? "\\t" : ch === "\n" ? "\\n" : "\\r"),
      );
    }
  }
  return v;
}
