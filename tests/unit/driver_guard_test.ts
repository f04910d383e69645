/**
 * The guard against rejections the PostgreSQL driver leaves unhandled (its
 * array-type lookup on a connection that dies): driver errors are kept from
 * ending the process and reported; anything else is left alone.
 */
import assert from "node:assert/strict";
import { guardDriverRejections, isDriverError } from "../../src/sink/client.ts";

const serverError = Object.assign(new Error("terminating connection due to administrator command"), {
  name: "PostgresError",
  code: "57P01",
});
const connectionError = Object.assign(new Error("write CONNECTION_CLOSED 127.0.0.1:5432"), {
  code: "CONNECTION_CLOSED",
});
const socketError = Object.assign(new Error("This socket has been ended by the other party"), { code: "EPIPE" });

function rejectionEvent(reason: unknown): PromiseRejectionEvent {
  const promise = Promise.reject(reason);
  promise.catch(() => {}); // the event below stands for the runtime's own
  return new PromiseRejectionEvent("unhandledrejection", { promise, reason, cancelable: true });
}

Deno.test("driver errors are recognised, others are not", () => {
  assert.equal(isDriverError(serverError), true);
  assert.equal(isDriverError(connectionError), true);
  assert.equal(isDriverError(socketError), true);
  assert.equal(isDriverError({ code: "ECONNRESET" }), true);
  for (const other of [new Error("boom"), new TypeError("x is undefined"), { code: "ENOENT" }, "text", null]) {
    assert.equal(isDriverError(other), false, String(other));
  }
});

Deno.test("a driver error left unhandled is reported and does not end the process; others are left alone", () => {
  const dropped: unknown[] = [];
  {
    using _guard = guardDriverRejections((err) => dropped.push(err));
    for (const err of [serverError, connectionError, socketError]) {
      const e = rejectionEvent(err);
      globalThis.dispatchEvent(e);
      assert.equal(e.defaultPrevented, true);
    }
    const other = rejectionEvent(new Error("a bug of ours"));
    globalThis.dispatchEvent(other);
    assert.equal(other.defaultPrevented, false);
  }
  assert.deepEqual(dropped, [serverError, connectionError, socketError]);
  // Disposed: no longer listening.
  const after = rejectionEvent(serverError);
  globalThis.dispatchEvent(after);
  assert.equal(after.defaultPrevented, false);
});

Deno.test("a real unhandled driver rejection is absorbed while the guard is in place", async () => {
  const dropped: unknown[] = [];
  using _guard = guardDriverRejections((err) => dropped.push(err));
  void Promise.reject(serverError);
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(dropped, [serverError]);
});
