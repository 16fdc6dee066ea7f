// Issue #5: service-account sign-in end to end (a key generated now, a token
// endpoint that verifies the JWT), token caching, retries of 429/503, and a
// job that never completes.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { seed, startEmulator, startWorker, tempDir, waitFor } from "./support/stack.mjs";
import { startBigQueryFront, startTokenEndpoint } from "./support/google.mjs";

let emulator;
let tokens;
let front;
before(async () => {
  emulator = await startEmulator();
  await seed(emulator.url, ["--reset", "--leads", "200", "--events-per-lead", "1", "--seed", "4"]);
  tokens = await startTokenEndpoint();
  front = await startBigQueryFront(emulator.url, tokens);
});
after(async () => {
  await front?.stop();
  await tokens?.stop();
  await emulator?.stop();
});

function startSignedInWorker(vars = {}, persistDir) {
  return startWorker({
    vars: { BIGQUERY_API_BASE: front.url, BIGQUERY_CREDENTIALS: tokens.credentials, ...vars },
    persistDir,
  });
}

test("syncs with a service account, minting one token for several runs and restarts", { timeout: 120_000 }, async () => {
  const state = tempDir();
  try {
    let worker = await startSignedInWorker({}, state.dir);
    for (let i = 0; i < 3; i++) {
      const { status, body } = await worker.syncNow();
      assert.equal(status, 200, JSON.stringify(body));
    }
    assert.equal((await worker.kv.list()).keys.length, 200);
    await worker.dispose();
    worker = await startSignedInWorker({}, state.dir); // a fresh object reads the stored token
    const { status } = await worker.syncNow();
    assert.equal(status, 200);
    await worker.dispose();
    assert.deepEqual(tokens.rejections, []);
    assert.equal(tokens.requests.length, 1, "one token request across four runs and a restart");
    assert.ok(front.seen.every((r) => r.auth.startsWith("Bearer ya29.test-1-")), "every BigQuery call carried the token");
    const logs = worker.logs.join("\n");
    assert.ok(!logs.includes("ya29.") && !logs.includes("PRIVATE KEY"), "no credential in the logs");
  } finally {
    state.remove();
  }
});

test("a token BigQuery rejects is dropped and replaced once", { timeout: 60_000 }, async () => {
  const worker = await startSignedInWorker();
  try {
    assert.equal((await worker.syncNow()).status, 200);
    const before = tokens.requests.length;
    tokens.revokeAll();
    const { status, body } = await worker.syncNow();
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(tokens.requests.length, before + 1);
  } finally {
    await worker.dispose();
  }
});

test("injected 429 and 503 answers are retried and the run completes", { timeout: 120_000 }, async () => {
  const worker = await startSignedInWorker();
  try {
    front.inject(
      { status: 429, reason: "rateLimitExceeded", message: "Exceeded rate limits: too many api requests per user" },
      { status: 503, reason: "backendError", message: "Backend error. Job aborted." },
      { status: 403, reason: "rateLimitExceeded", message: "Exceeded rate limits: too many concurrent queries" },
    );
    const { status, body } = await worker.syncNow();
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(front.faultsLeft(), 0);
    assert.equal(body.run.status, "completed");
    const retries = worker.events("bigquery_retry");
    assert.equal(retries.length, 3);
    assert.ok(retries[1].wait_ms > retries[0].wait_ms * 1.1, "the backoff grows");
  } finally {
    await worker.dispose();
  }
});

test("an invalid SYNC_QUERY shows invalidQuery and BigQuery's message in /status", { timeout: 60_000 }, async () => {
  const worker = await startSignedInWorker({ SYNC_QUERY: "SELECT trackingId AS key, no_such_column FROM outbound_sales.leads" });
  try {
    const { status, body } = await worker.syncNow();
    assert.equal(status, 502);
    const s = await worker.status();
    assert.match(s.body.last_error, /^invalidQuery: BigQuery: .*no_such_column/);
    assert.equal(s.body.last_run.error, s.body.last_error);
    assert.equal(body.success, false);
  } finally {
    await worker.dispose();
  }
});

test("a job that stays unfinished past its deadline fails clearly and the next run retries", { timeout: 120_000 }, async () => {
  const worker = await startSignedInWorker({
    BIGQUERY_JOB_TIMEOUT_SECONDS: "3", INVOCATION_BUDGET_MS: "1000", SYNC_INTERVAL_SECONDS: "10",
  });
  try {
    front.setStalled(true);
    const started = await worker.syncNow("?wait=false");
    const failed = await waitFor(async () => {
      const { body } = await worker.status();
      return body.last_run?.id === started.body.run.id && body;
    }, { timeoutMs: 30_000, what: "the stalled run to fail" });
    assert.equal(failed.last_run.status, "failed");
    assert.match(failed.last_run.error, /^timeout: BigQuery: query job stalled-job was still running after \d+ s/);
    assert.ok(failed.last_run.invocations >= 2, "the wait spanned invocations");
    front.setStalled(false);
    const healed = await waitFor(async () => {
      const { body } = await worker.status();
      return body.last_run?.status === "completed" && body;
    }, { timeoutMs: 30_000, what: "the retry to succeed" });
    assert.ok(healed.last_run.id > started.body.run.id);
    assert.equal(healed.last_run.bigquery_jobs, 1, "a new job, not the stuck one");
  } finally {
    front.setStalled(false);
    await worker.dispose();
  }
});
