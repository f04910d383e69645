/**
 * Pure tests of failure classification: the one table that decides retry
 * (transient), dead-letter (data), or leave pending (unknown).
 */
import assert from "node:assert/strict";
import {
  classify,
  ConfigError,
  describe,
  type FailureKind,
  incurableAtStart,
  isTransient,
  MigrationError,
  sqlState,
  UsageError,
} from "../../src/errors.ts";

/** Shaped like postgres.js's PostgresError (name, code = SQLSTATE, protocol fields). */
class FakePostgresError extends Error {
  override name = "PostgresError";
  constructor(readonly code: string, message = `error ${code}`, extra: Record<string, string> = {}) {
    super(message);
    Object.assign(this, extra);
  }
}

function withCode(message: string, code: string, name = "Error"): Error {
  const err = new Error(message) as Error & { code: string };
  err.code = code;
  err.name = name;
  return err;
}

function replyError(message: string): Error {
  const err = new Error(message);
  err.name = "ReplyError";
  return err;
}

Deno.test("classify: a table of failures", async (t) => {
  const cases: [label: string, err: unknown, kind: FailureKind][] = [
    // PostgreSQL, by SQLSTATE
    ["57P01 admin_shutdown", new FakePostgresError("57P01"), "transient"],
    ["57P03 cannot_connect_now", new FakePostgresError("57P03"), "transient"],
    ["53300 too_many_connections", new FakePostgresError("53300"), "transient"],
    ["53100 disk_full", new FakePostgresError("53100"), "transient"],
    ["40001 serialization_failure", new FakePostgresError("40001"), "transient"],
    ["40P01 deadlock_detected", new FakePostgresError("40P01"), "transient"],
    ["08006 connection_failure", new FakePostgresError("08006"), "transient"],
    ["08001 sqlclient_unable_to_establish", new FakePostgresError("08001"), "transient"],
    ["58030 io_error", new FakePostgresError("58030"), "transient"],
    ["3D000 invalid_catalog_name", new FakePostgresError("3D000"), "transient"],
    ["28P01 invalid_password", new FakePostgresError("28P01"), "transient"],
    ["42P01 undefined_table", new FakePostgresError("42P01"), "transient"],
    ["42P10 no unique index for ON CONFLICT: never retried", new FakePostgresError("42P10"), "unknown"],
    ["Redis WRONGPASS", replyError("WRONGPASS invalid username-password pair or user is disabled."), "transient"],
    ["Redis NOAUTH", replyError("NOAUTH Authentication required."), "transient"],
    ["Redis NOPERM", replyError("NOPERM this user has no permissions to run the 'xadd' command"), "transient"],
    ["55P03 lock_not_available", new FakePostgresError("55P03"), "transient"],
    ["XX000 internal_error", new FakePostgresError("XX000"), "transient"],
    ["22P02 invalid_text_representation", new FakePostgresError("22P02"), "data"],
    ["22003 numeric_value_out_of_range", new FakePostgresError("22003"), "data"],
    ["22001 string_data_right_truncation", new FakePostgresError("22001"), "data"],
    ["22021 character_not_in_repertoire", new FakePostgresError("22021"), "data"],
    ["23514 check_violation", new FakePostgresError("23514"), "data"],
    ["23502 not_null_violation", new FakePostgresError("23502"), "data"],
    ["23505 unique_violation", new FakePostgresError("23505"), "data"],
    ["P0001 raise_exception", new FakePostgresError("P0001"), "unknown"],
    ["0A000 feature_not_supported", new FakePostgresError("0A000"), "unknown"],
    ["a plain object shaped like a PostgresError", { name: "PostgresError", code: "40P01", message: "x" }, "transient"],
    // node / Deno network errors
    ["ECONNREFUSED", withCode("connect ECONNREFUSED 127.0.0.1:5432", "ECONNREFUSED"), "transient"],
    ["ECONNRESET", withCode("read ECONNRESET", "ECONNRESET"), "transient"],
    ["EPIPE (five capital letters, not a SQLSTATE)", withCode("write EPIPE", "EPIPE"), "transient"],
    ["ETIMEDOUT", withCode("connect ETIMEDOUT", "ETIMEDOUT"), "transient"],
    ["ENOTFOUND", withCode("getaddrinfo ENOTFOUND db", "ENOTFOUND"), "transient"],
    ["EAI_AGAIN", withCode("getaddrinfo EAI_AGAIN db", "EAI_AGAIN"), "transient"],
    ["EHOSTUNREACH", withCode("connect EHOSTUNREACH", "EHOSTUNREACH"), "transient"],
    // postgres.js connection-level codes
    ["CONNECTION_CLOSED", withCode("write CONNECTION_CLOSED db:5432", "CONNECTION_CLOSED"), "transient"],
    ["CONNECT_TIMEOUT", withCode("write CONNECT_TIMEOUT db:5432", "CONNECT_TIMEOUT"), "transient"],
    ["CONNECTION_ENDED", withCode("write CONNECTION_ENDED db:5432", "CONNECTION_ENDED"), "transient"],
    ["CONNECTION_DESTROYED", withCode("write CONNECTION_DESTROYED", "CONNECTION_DESTROYED"), "transient"],
    // Redis reply errors, by message prefix
    ["LOADING", replyError("LOADING Redis is loading the dataset in memory"), "transient"],
    ["TRYAGAIN", replyError("TRYAGAIN Multiple keys request during rehashing of slot"), "transient"],
    ["CLUSTERDOWN", replyError("CLUSTERDOWN The cluster is down"), "transient"],
    ["READONLY", replyError("READONLY You can't write against a read only replica."), "transient"],
    ["MASTERDOWN", replyError("MASTERDOWN Link with MASTER is down"), "transient"],
    ["BUSY", replyError("BUSY Redis is busy running a script."), "transient"],
    ["OOM", replyError("OOM command not allowed when used memory > 'maxmemory'."), "transient"],
    ["NOGROUP is not transient", replyError("NOGROUP No such key 'x' or consumer group 'g'"), "unknown"],
    ["ERR is not transient", replyError("ERR wrong number of arguments for 'xadd' command"), "unknown"],
    ["WRONGTYPE is not transient", replyError("WRONGTYPE Operation against a key holding the wrong kind"), "unknown"],
    // ioredis client-side messages and names
    ["ioredis: Connection is closed.", new Error("Connection is closed."), "transient"],
    [
      "ioredis: Stream isn't writeable",
      new Error("Stream isn't writeable and enableOfflineQueue options is false"),
      "transient",
    ],
    [
      "ioredis: MaxRetriesPerRequestError",
      Object.assign(new Error("x"), { name: "MaxRetriesPerRequestError" }),
      "transient",
    ],
    ["ioredis: Command timed out", new Error("Command timed out"), "transient"],
    ["ioredis Cluster: slots refresh failed", new Error("Failed to refresh slots cache."), "transient"],
    ["ioredis Cluster: no startup node", new Error("None of startup nodes is available"), "transient"],
    [
      "ioredis Cluster: redirections exhausted",
      new Error("Too many Cluster redirections. Last error: ReplyError: MOVED 11412 127.0.0.1:35189"),
      "transient",
    ],
    [
      "ioredis Cluster: not ready",
      new Error("Cluster isn't ready and enableOfflineQueue options is false"),
      "transient",
    ],
    ["AbortSignal.timeout reason", new DOMException("signal timed out", "TimeoutError"), "transient"],
    // everything else
    ["plain Error", new Error("boom"), "unknown"],
    ["TypeError", new TypeError("x is not a function"), "unknown"],
    ["a string", "boom", "unknown"],
    ["null", null, "unknown"],
    ["undefined", undefined, "unknown"],
    ["a number", 42, "unknown"],
    ["an unrelated 5-character code without the PostgresError name", withCode("x", "EPERM"), "unknown"],
    // causes
    [
      "cause: transient PostgresError",
      new Error("insert failed", { cause: new FakePostgresError("57P01") }),
      "transient",
    ],
    ["cause: data PostgresError", new Error("insert failed", { cause: new FakePostgresError("23502") }), "data"],
    [
      "cause two levels deep",
      new Error("a", { cause: new Error("b", { cause: withCode("read ECONNRESET", "ECONNRESET") }) }),
      "transient",
    ],
    ["cause: unknown stays unknown", new Error("a", { cause: new Error("b") }), "unknown"],
    [
      "outer SQLSTATE wins over a cause",
      Object.assign(new FakePostgresError("23514"), { cause: withCode("x", "ECONNRESET") }),
      "data",
    ],
  ];
  for (const [label, err, kind] of cases) {
    await t.step(`${label} → ${kind}`, () => {
      assert.equal(classify(err), kind);
      assert.equal(isTransient(err), kind === "transient");
    });
  }
});

Deno.test("classify: a cycle of causes terminates", () => {
  const a = new Error("a") as Error & { cause?: unknown };
  const b = new Error("b", { cause: a });
  a.cause = b;
  assert.equal(classify(a), "unknown");
});

Deno.test("classify: a transient failure wrapped three times is still transient", () => {
  let err: unknown = withCode("read ECONNRESET", "ECONNRESET");
  for (let i = 0; i < 3; i++) err = new Error(`wrap ${i}`, { cause: err });
  assert.equal(classify(err), "transient");
});

Deno.test("sqlState", async (t) => {
  const cases: [string, unknown, string | undefined][] = [
    ["PostgresError", new FakePostgresError("23505"), "23505"],
    ["PostgresError with letters", new FakePostgresError("40P01"), "40P01"],
    ["node network code", withCode("write EPIPE", "EPIPE"), undefined],
    ["postgres.js connection code", withCode("x", "CONNECTION_CLOSED"), undefined],
    ["lower-case code", withCode("x", "abcde"), undefined],
    ["no code", new Error("x"), undefined],
    ["not an object", "23505", undefined],
  ];
  for (const [label, err, want] of cases) {
    await t.step(label, () => assert.equal(sqlState(err), want));
  }
});

Deno.test("describe", async (t) => {
  await t.step("includes SQLSTATE, detail and constraint name", () => {
    const err = new FakePostgresError("23514", 'new row for relation "sensor_readings" violates check constraint', {
      detail: "Failing row contains (…).",
      constraint_name: "sensor_readings_value_check",
    });
    assert.equal(
      describe(err),
      '23514: new row for relation "sensor_readings" violates check constraint (Failing row contains (…).) [constraint sensor_readings_value_check]',
    );
  });
  await t.step("SQLSTATE alone", () => {
    assert.equal(describe(new FakePostgresError("57P01", "terminating connection")), "57P01: terminating connection");
  });
  await t.step("a network code", () => {
    assert.equal(
      describe(withCode("connect ECONNREFUSED 127.0.0.1:6379", "ECONNREFUSED")),
      "ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:6379",
    );
  });
  await t.step("a plain error is its message", () => {
    assert.equal(describe(new Error("boom")), "boom");
  });
  await t.step("not an error", () => {
    assert.equal(describe("just text"), "just text");
    assert.equal(describe(null), "null");
    assert.equal(describe(undefined), "undefined");
  });
  await t.step("one line, no stack", () => {
    const d = describe(new Error("boom"));
    assert.doesNotMatch(d, /\n|at /);
  });
});

Deno.test("error classes carry their name and problems", () => {
  const c = new ConfigError(["A: got 1, expected 2", "B: got x, expected y"]);
  assert.ok(c instanceof Error);
  assert.equal(c.name, "ConfigError");
  assert.deepEqual(c.problems, ["A: got 1, expected 2", "B: got x, expected y"]);
  assert.equal(c.message, "invalid configuration:\n  - A: got 1, expected 2\n  - B: got x, expected y");
  assert.equal(new UsageError("u").name, "UsageError");
  assert.equal(new MigrationError("m").name, "MigrationError");
  const withCause = new MigrationError("m", { cause: "why" });
  assert.equal(withCause.cause, "why");
});

Deno.test("incurableAtStart: what waiting cannot fix before the start, and what it can", async (t) => {
  const cases: [label: string, err: unknown, incurable: boolean][] = [
    ["3D000 database does not exist", new FakePostgresError("3D000"), true],
    ["28P01 password refused", new FakePostgresError("28P01"), true],
    ["28000 role refused", new FakePostgresError("28000"), true],
    ["42703 column does not exist", new FakePostgresError("42703"), true],
    ["42P01 table does not exist", new FakePostgresError("42P01"), true],
    [
      "a migration failing on 42703",
      new MigrationError("0001 failed", { cause: new FakePostgresError("42703") }),
      true,
    ],
    ["Redis WRONGPASS", replyError("WRONGPASS invalid username-password pair"), true],
    ["Redis NOAUTH", replyError("NOAUTH Authentication required."), true],
    ["57P03 server starting up", new FakePostgresError("57P03"), false],
    ["57P01 admin shutdown", new FakePostgresError("57P01"), false],
    ["53300 too many connections", new FakePostgresError("53300"), false],
    ["ECONNREFUSED", withCode("connect ECONNREFUSED 127.0.0.1:5432", "ECONNREFUSED"), false],
    ["CONNECT_TIMEOUT", withCode("write CONNECT_TIMEOUT db:5432", "CONNECT_TIMEOUT"), false],
    ["Redis LOADING", replyError("LOADING Redis is loading the dataset in memory"), false],
    ["a plain error", new Error("boom"), false],
  ];
  for (const [label, err, incurable] of cases) {
    await t.step(label, () => assert.equal(incurableAtStart(err), incurable));
  }
  // Once running, the same codes are still waited out like an outage.
  assert.equal(classify(new FakePostgresError("3D000")), "transient");
});
