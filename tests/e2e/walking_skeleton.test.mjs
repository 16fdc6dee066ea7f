// Issue #2: N generated leads in the emulator → N typed JSON values in KV,
// bearer auth, /status, and clear errors for bad configuration.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { allKeys, freePort, seed, startEmulator, startWorker } from "./support/stack.mjs";
import { expectedValues } from "./support/expect.mjs";

const LEADS = 300;

describe("a sync from the emulator into KV", () => {
  let emulator;
  let worker;
  before(async () => {
    emulator = await startEmulator();
    await seed(emulator.url, ["--reset", "--leads", String(LEADS), "--events-per-lead", "3", "--seed", "7"]);
    worker = await startWorker({ vars: { BIGQUERY_API_BASE: emulator.url } });
  });
  after(async () => {
    await worker?.dispose();
    await emulator?.stop();
  });

  test("POST /sync-kv-now copies every lead into KV, typed from the schema", async () => {
    const { status, body } = await worker.syncNow();
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.success, true);
    assert.equal(body.message, "KV sync completed");
    assert.equal(body.run.status, "completed");
    assert.equal(body.run.rows_written, LEADS);
    assert.equal(body.run.bigquery_jobs, 1);

    const expected = await expectedValues(emulator.url);
    assert.equal(expected.size, LEADS);
    const keys = await allKeys(worker.kv);
    assert.equal(keys.length, LEADS);
    for (const [key, { value, updatedAt }] of expected) {
      const { value: text, metadata } = await worker.kv.getWithMetadata(key);
      assert.deepEqual(JSON.parse(text), value, `value of ${key}`);
      assert.equal(metadata.updated_at, updatedAt, `metadata.updated_at of ${key}`);
      assert.match(metadata.synced_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    }
    const sample = JSON.parse(await worker.kv.get(keys[0]));
    assert.equal(typeof sample.sessions, "number");
    assert.equal(typeof sample.intent_score, "number");
    assert.equal(typeof sample.email, "string");
  });

  test("GET /status shows the cursor and the last run", async () => {
    const { status, body } = await worker.status();
    assert.equal(status, 200);
    assert.equal(body.state, "idle");
    const expected = await expectedValues(emulator.url);
    const last = [...expected.entries()].sort(([ka, a], [kb, b]) =>
      a.updatedAt === b.updatedAt ? (ka < kb ? -1 : 1) : a.updatedAt < b.updatedAt ? -1 : 1).at(-1);
    assert.deepEqual(body.cursor, { updated_at: last[1].updatedAt, key: last[0] });
    assert.equal(typeof body.lag_seconds, "number");
    assert.equal(body.last_run.status, "completed");
    assert.equal(body.last_run.rows_written, LEADS);
    assert.equal(body.recent_runs.length, 1);
    assert.equal(body.totals.rows_written, LEADS);
    assert.equal(body.interval_seconds, 300);
    assert.ok(body.next_alarm_at, "an alarm is armed");
    assert.ok(Date.parse(body.next_alarm_at) > Date.now(), "the next alarm is in the future");
  });

  test("a second sync with nothing changed writes nothing", async () => {
    const { status, body } = await worker.syncNow();
    assert.equal(status, 200);
    assert.equal(body.run.rows_written, 0);
    assert.ok(body.run.rows_unchanged > 0, "the lookback re-read rows and found them unchanged");
  });

  test("a wrong or missing bearer gets 401 and learns nothing", async () => {
    for (const token of ["wrong", ""]) {
      const r = await worker.call("/status", { headers: token ? { authorization: `Bearer ${token}` } : {} });
      assert.equal(r.status, 401);
      assert.equal(r.headers.get("www-authenticate"), "Bearer");
      const body = await r.json();
      assert.equal(body.success, false);
      assert.ok(!JSON.stringify(body).includes("test-secret"));
    }
    const r = await worker.call("/sync-kv-now", { method: "POST", headers: { authorization: "Bearer nope" } });
    assert.equal(r.status, 401);
  });
});

describe("bad configuration gives a clear error, not a panic or a hang", () => {
  let emulator;
  before(async () => {
    emulator = await startEmulator();
    await seed(emulator.url, ["--reset", "--leads", "5", "--events-per-lead", "1", "--seed", "1"]);
  });
  after(async () => emulator?.stop());

  test("no EVENT_SIGNING_SECRET: 503, never open", async () => {
    const worker = await startWorker({ secret: null, vars: { BIGQUERY_API_BASE: emulator.url } });
    try {
      const r = await worker.call("/sync-kv-now", { method: "POST", headers: { authorization: "Bearer anything" } });
      assert.equal(r.status, 503);
      assert.match((await r.json()).error, /EVENT_SIGNING_SECRET is not configured/);
      assert.equal((await worker.call("/status")).status, 503);
    } finally {
      await worker.dispose();
    }
  });

  test("unreachable BigQuery: the run fails with a clear error in the response and /status", async () => {
    const port = await freePort();
    // A short budget: the client retries a lost connection only while it lasts.
    const worker = await startWorker({ vars: { BIGQUERY_API_BASE: `http://127.0.0.1:${port}`, INVOCATION_BUDGET_MS: "1500" } });
    try {
      const { status, body } = await worker.syncNow();
      assert.equal(status, 502);
      assert.equal(body.success, false);
      assert.match(body.error, /^bigqueryUnreachable: BigQuery: /);
      const s = await worker.status();
      assert.equal(s.body.state, "failing");
      assert.equal(s.body.last_run.status, "failed");
      assert.match(s.body.last_error, /bigqueryUnreachable/);
      assert.ok(Date.parse(s.body.next_alarm_at) - Date.now() <= 11_000, "the retry is backed off, not an interval away");
    } finally {
      await worker.dispose();
    }
  });

  test("an invalid SYNC_QUERY: invalidQuery with BigQuery's own message", async () => {
    const worker = await startWorker({ vars: { BIGQUERY_API_BASE: emulator.url, SYNC_QUERY: "SELECT nope FROM outbound_sales.leads" } });
    try {
      const { status, body } = await worker.syncNow();
      assert.equal(status, 502);
      assert.match(body.error, /^invalidQuery: BigQuery: .*nope/);
      const s = await worker.status();
      assert.match(s.body.last_run.error, /^invalidQuery/);
    } finally {
      await worker.dispose();
    }
  });

  test("a malformed variable names itself", async () => {
    const worker = await startWorker({ vars: { BIGQUERY_API_BASE: emulator.url, SYNC_INTERVAL_SECONDS: "5m" } });
    try {
      const { status, body } = await worker.syncNow();
      assert.equal(status, 502);
      assert.match(body.error, /SYNC_INTERVAL_SECONDS = "5m"/);
    } finally {
      await worker.dispose();
    }
  });
});
