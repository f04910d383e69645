/**
 * Pure tests of backoff and retry. Real waits are kept to a few milliseconds;
 * no timing assertions, only what happened and in which order.
 */
import assert from "node:assert/strict";
import { backoffDelay, retry, RetryAbortedError } from "../../src/retry.ts";
import { sleep } from "../../src/async/delay.ts";
import { succeedsWithin } from "../../src/async/deadline.ts";

const FAST = { initialMs: 1, maxMs: 2 };

/** Guards a promise that should settle promptly, so a regression fails instead of hanging. */
async function promptly<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within 10 s`)), 10_000);
  });
  try {
    return await Promise.race([p, guard]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("backoffDelay: deterministic with an injected random", async (t) => {
  const opts = { initialMs: 100, maxMs: 1000 };
  const cases: [attempt: number, random: number, want: number][] = [
    [0, 0, 50], // ceiling 100, lower bound ceiling/2
    [0, 0.5, 75],
    [0, 0.999999, 100],
    [1, 0, 100], // ceiling 200
    [2, 0, 200], // ceiling 400
    [3, 0.5, 600], // ceiling 800
    [4, 0, 500], // ceiling 1600 capped at 1000
    [4, 0.999999, 1000],
    [10, 0.25, 625],
    [1000, 0, 500], // huge attempts stay capped, no overflow
  ];
  for (const [attempt, r, want] of cases) {
    await t.step(`attempt ${attempt}, random ${r} → ${want}`, () => {
      assert.equal(backoffDelay(attempt, opts, () => r), want);
    });
  }
});

Deno.test("backoffDelay: between ceiling/2 and ceiling, never above maxMs", () => {
  const opts = { initialMs: 200, maxMs: 30_000 };
  for (let attempt = 0; attempt < 40; attempt++) {
    const ceiling = Math.min(opts.maxMs, opts.initialMs * 2 ** attempt);
    for (let i = 0; i < 50; i++) {
      const d = backoffDelay(attempt, opts);
      assert.ok(Number.isFinite(d), `attempt ${attempt}: ${d}`);
      assert.ok(d >= ceiling / 2 && d <= ceiling, `attempt ${attempt}: ${d} not in [${ceiling / 2}, ${ceiling}]`);
      assert.ok(d <= opts.maxMs);
    }
  }
});

Deno.test("backoffDelay: jitter spreads instances apart", () => {
  const seen = new Set<number>();
  for (let i = 0; i < 100; i++) seen.add(backoffDelay(5, { initialMs: 100, maxMs: 100_000 }));
  assert.ok(seen.size > 10, `only ${seen.size} distinct delays`);
});

Deno.test("sleep", async (t) => {
  await t.step("resolves after the time", async () => {
    let done = false;
    const p = sleep(2).then(() => {
      done = true;
    });
    assert.equal(done, false);
    await p;
    assert.equal(done, true);
  });
  await t.step("zero or negative resolves at once", async () => {
    assert.equal(await sleep(0), undefined);
    assert.equal(await sleep(-5), undefined);
  });
  await t.step("an already aborted signal resolves at once", async () => {
    assert.equal(await promptly(sleep(3_600_000, AbortSignal.abort()), "sleep"), undefined);
  });
  await t.step("resolves early on abort, clears its timer and its listener", async () => {
    const ac = new AbortController();
    let listeners = 0;
    const add = ac.signal.addEventListener.bind(ac.signal);
    const remove = ac.signal.removeEventListener.bind(ac.signal);
    ac.signal.addEventListener = ((...args: Parameters<typeof add>) => {
      listeners++;
      return add(...args);
    }) as typeof add;
    ac.signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
      listeners--;
      return remove(...args);
    }) as typeof remove;
    let done = false;
    const p = sleep(3_600_000, ac.signal).then(() => {
      done = true;
    });
    await Promise.resolve();
    assert.equal(done, false);
    assert.equal(listeners, 1);
    ac.abort();
    await promptly(p, "sleep"); // never rejects
    assert.equal(done, true);
    assert.equal(listeners, 0);
  });
  await t.step("removes its listener when it ends normally", async () => {
    const ac = new AbortController();
    let removed = 0;
    const remove = ac.signal.removeEventListener.bind(ac.signal);
    ac.signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
      removed++;
      return remove(...args);
    }) as typeof remove;
    await sleep(1, ac.signal);
    assert.equal(removed, 1);
  });
});

Deno.test("retry: returns at once on success", async () => {
  let calls = 0;
  let successAttempts: number | undefined;
  const result = await retry(() => {
    calls++;
    return Promise.resolve("ok");
  }, {
    ...FAST,
    shouldRetry: () => true,
    onFailure: () => assert.fail("no failure expected"),
    onSuccess: (n) => (successAttempts = n),
  });
  assert.equal(result, "ok");
  assert.equal(calls, 1);
  assert.equal(successAttempts, 0);
});

Deno.test("retry: retries retryable failures, reporting each with attempt and delay", async () => {
  const errors = [new Error("e0"), new Error("e1"), new Error("e2")];
  let calls = 0;
  const failures: [unknown, number, number][] = [];
  let successAttempts: number | undefined;
  const result = await retry(() => {
    const err = errors[calls++];
    return err ? Promise.reject(err) : Promise.resolve(42);
  }, {
    initialMs: 1,
    maxMs: 4,
    shouldRetry: (err) => errors.includes(err as Error),
    onFailure: (err, attempt, delay) => failures.push([err, attempt, delay]),
    onSuccess: (n) => (successAttempts = n),
  });
  assert.equal(result, 42);
  assert.equal(calls, 4);
  assert.deepEqual(failures.map(([err, attempt]) => [err, attempt]), [[errors[0], 0], [errors[1], 1], [errors[2], 2]]);
  for (const [, attempt, delay] of failures) {
    const ceiling = Math.min(4, 2 ** attempt);
    assert.ok(delay >= ceiling / 2 && delay <= ceiling, `attempt ${attempt}: delay ${delay}`);
  }
  assert.equal(successAttempts, 3);
});

Deno.test("retry: a failure shouldRetry rejects is thrown at once, unchanged", async () => {
  const permanent = new Error("bad row");
  const transient = new Error("outage");
  let calls = 0;
  const seen: unknown[] = [];
  await assert.rejects(
    retry(() => {
      calls++;
      // succeeding after a few calls turns a regression into a failure, not an endless loop
      if (calls > 5) return Promise.resolve("kept retrying a permanent failure");
      return Promise.reject(calls === 1 ? transient : permanent);
    }, {
      ...FAST,
      shouldRetry: (err) => {
        seen.push(err);
        return err === transient;
      },
    }),
    (err) => err === permanent,
  );
  assert.equal(calls, 2);
  assert.deepEqual(seen, [transient, permanent]);
});

Deno.test("retry: a synchronous throw inside an async fn is handled like a rejection", async () => {
  let calls = 0;
  const result = await retry(async () => {
    calls++;
    if (calls < 2) throw new Error("first");
    return await Promise.resolve("second");
  }, { ...FAST, shouldRetry: () => true });
  assert.equal(result, "second");
  assert.equal(calls, 2);
});

Deno.test("retry: abort while waiting ends with RetryAbortedError carrying the last error", async () => {
  const ac = new AbortController();
  const last = new Error("still down");
  let calls = 0;
  const err = await promptly(
    retry(() => {
      calls++;
      return Promise.reject(last);
    }, {
      initialMs: 3_600_000, // an hour: only the abort can end this wait
      maxMs: 3_600_000,
      signal: ac.signal,
      shouldRetry: () => true,
      onFailure: () => queueMicrotask(() => ac.abort()),
    }),
    "retry",
  ).then(() => assert.fail("expected a rejection"), (e: unknown) => e);
  assert.ok(err instanceof RetryAbortedError, `got ${err}`);
  assert.equal(err.name, "RetryAbortedError");
  assert.equal(err.lastError, last);
  assert.equal(err.cause, last);
  assert.match(err.message, /shutting down/);
  assert.equal(calls, 1);
});

Deno.test("retry: an already aborted signal stops after the first failure without waiting", async () => {
  let calls = 0;
  let failures = 0;
  const last = new Error("down");
  await assert.rejects(
    promptly(
      retry(() => {
        calls++;
        return Promise.reject(last);
      }, {
        initialMs: 3_600_000,
        maxMs: 3_600_000,
        signal: AbortSignal.abort(),
        shouldRetry: () => true,
        onFailure: () => failures++,
      }),
      "retry",
    ),
    (err) => err instanceof RetryAbortedError && err.lastError === last,
  );
  assert.equal(calls, 1);
  assert.equal(failures, 0);
});

Deno.test("retry: an aborted signal does not hide success or a permanent failure", async () => {
  const signal = AbortSignal.abort();
  assert.equal(await retry(() => Promise.resolve(7), { ...FAST, signal, shouldRetry: () => true }), 7);
  const permanent = new Error("bad");
  await assert.rejects(
    retry(() => Promise.reject(permanent), { ...FAST, signal, shouldRetry: () => false }),
    (err) => err === permanent,
  );
});

Deno.test("succeedsWithin: true when the work succeeds in time, false when it fails or is late", async () => {
  assert.equal(await succeedsWithin(Promise.resolve("x"), 1000), true);
  assert.equal(await succeedsWithin(Promise.reject(new Error("no")), 1000), false);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const slow = new Promise((r) => (timer = setTimeout(r, 500)));
  assert.equal(await succeedsWithin(slow, 10), false);
  clearTimeout(timer);
});
