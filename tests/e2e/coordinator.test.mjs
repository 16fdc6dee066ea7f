// Issue #4 end to end: one run at a time under concurrent webhooks, takeover
// of a run whose runtime died, self-healing after a BigQuery outage.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { allKeys, freePort, seed, sleep, startEmulator, startWorker, tempDir, waitFor } from "./support/stack.mjs";
import { expectedValues } from "./support/expect.mjs";

async function assertKvMatches(worker, emulatorUrl) {
  const expected = await expectedValues(emulatorUrl);
  assert.equal((await allKeys(worker.kv)).length, expected.size);
  for (const [key, { value }] of expected) assert.deepEqual(await worker.kv.get(key, "json"), value, key);
}

function assertNoOverlap(runs) {
  const sorted = [...runs].sort((a, b) => a.id - b.id);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    assert.ok(prev.finished_at, `run ${prev.id} finished before run ${sorted[i].id}`);
    assert.ok(Date.parse(prev.finished_at) <= Date.parse(sorted[i].started_at),
      `run ${prev.id} (…${prev.finished_at}) overlaps run ${sorted[i].id} (${sorted[i].started_at}…)`);
  }
}

describe("concurrent webhooks during an alarm run", () => {
  let emulator;
  let worker;
  before(async () => {
    emulator = await startEmulator();
    await seed(emulator.url, ["--reset", "--leads", "4000", "--events-per-lead", "1", "--seed", "11"]);
    worker = await startWorker({
      vars: { BIGQUERY_API_BASE: emulator.url, SYNC_INTERVAL_SECONDS: "10", MAX_KV_WRITES_PER_INVOCATION: "250" },
    });
  });
  after(async () => {
    await worker?.dispose();
    await emulator?.stop();
  });

  test("50 concurrent POSTs coalesce into exactly one follow-up run, and runs never overlap", { timeout: 300_000 }, async () => {
    await worker.status(); // the first request arms the alarm, one interval out
    const alarmRun = await waitFor(async () => {
      const { body } = await worker.status();
      return body.current_run?.trigger === "alarm" && body.current_run.rows_read > 0 && body.current_run;
    }, { timeoutMs: 60_000, what: "an alarm run in progress" });

    const answers = await Promise.all(Array.from({ length: 50 }, () => worker.syncNow()));
    for (const { status, body } of answers) {
      assert.equal(status, 202);
      assert.equal(body.message, "KV sync already running");
      assert.equal(body.queued, true);
      assert.equal(body.run.id, alarmRun.id);
    }
    assert.equal((await worker.status()).body.queued, true);

    const { body } = await waitFor(async () => {
      const s = await worker.status();
      return s.body.recent_runs.some((r) => r.id > alarmRun.id && r.status === "completed") && s;
    }, { timeoutMs: 240_000, what: "the follow-up run" });
    const after = body.recent_runs.filter((r) => r.id > alarmRun.id);
    const followUp = after.at(-1);
    assert.equal(followUp.id, alarmRun.id + 1, "the follow-up starts right after the alarm run");
    assert.equal(followUp.trigger, "webhook");
    const completedAlarm = body.recent_runs.find((r) => r.id === alarmRun.id);
    assert.equal(completedAlarm.status, "completed");
    assert.ok(completedAlarm.invocations > 1);
    assert.equal(body.recent_runs.filter((r) => r.trigger === "webhook").length, 1, "exactly one follow-up");
    assertNoOverlap(body.recent_runs);
    const started = worker.events("run_started").map((e) => e.run);
    assert.deepEqual(started, [...new Set(started)].sort((a, b) => a - b), "each run started once, in order");
    await assertKvMatches(worker, emulator.url);
  });
});

describe("a run whose runtime dies mid-way", () => {
  test("is taken over after its lease expires and completes with every value correct", { timeout: 300_000 }, async () => {
    const emulator = await startEmulator();
    const state = tempDir();
    const vars = { BIGQUERY_API_BASE: emulator.url, MAX_KV_WRITES_PER_INVOCATION: "300", INVOCATION_BUDGET_MS: "1500" };
    try {
      await seed(emulator.url, ["--reset", "--leads", "3000", "--events-per-lead", "1", "--seed", "5"]);
      let worker = await startWorker({ vars, persistDir: state.dir });
      const inFlight = worker.syncNow().catch((e) => e);
      await waitFor(async () => (await worker.kv.list({ limit: 1 })).keys.length > 0, { what: "first writes" });
      const { body: midway } = await worker.status();
      assert.equal(midway.state, "running");
      const runId = midway.current_run.id;
      await worker.dispose(); // the runtime dies mid-invocation
      await inFlight;

      worker = await startWorker({ vars, persistDir: state.dir });
      try {
        const { body: restarted } = await worker.status();
        assert.equal(restarted.current_run?.id, runId, "the run survived the restart");
        const { body } = await waitFor(async () => {
          const s = await worker.status();
          return s.body.last_run?.id === runId && s;
        }, { timeoutMs: 120_000, what: "the run to finish after takeover" });
        assert.equal(body.last_run.status, "completed", body.last_run.error ?? "");
        assert.equal(body.last_run.rows_written + body.last_run.rows_unchanged >= 3000, true);
        await assertKvMatches(worker, emulator.url);
      } finally {
        await worker.dispose();
      }
    } finally {
      await emulator.stop();
      state.remove();
    }
  });
});

describe("BigQuery down during an alarm run", () => {
  test("records a failure, backs off, and succeeds once BigQuery is back, with no manual step", { timeout: 300_000 }, async () => {
    const port = await freePort();
    const worker = await startWorker({
      vars: { BIGQUERY_API_BASE: `http://127.0.0.1:${port}`, SYNC_INTERVAL_SECONDS: "10", INVOCATION_BUDGET_MS: "1500" },
    });
    let emulator;
    try {
      await worker.status();
      const failing = await waitFor(async () => {
        const { body } = await worker.status();
        return body.state === "failing" && body.consecutive_failures >= 2 && body;
      }, { timeoutMs: 60_000, what: "two failed alarm runs" });
      assert.match(failing.last_error, /^bigqueryUnreachable/);
      assert.equal(failing.last_run.trigger, "alarm");
      assert.ok(failing.next_alarm_at, "a retry is scheduled");
      assert.ok(worker.events("run_failed").every((e) => e.retry_in_seconds >= 1));

      emulator = await startEmulator({ port });
      await seed(emulator.url, ["--reset", "--leads", "50", "--events-per-lead", "1", "--seed", "2"]);
      const healed = await waitFor(async () => {
        const { body } = await worker.status();
        return body.state === "idle" && body.last_run?.status === "completed" && body;
      }, { timeoutMs: 60_000, what: "recovery" });
      assert.equal(healed.consecutive_failures, 0);
      assert.equal(healed.last_error, null);
      await assertKvMatches(worker, emulator.url);
    } finally {
      await worker.dispose();
      await emulator?.stop();
    }
  });
});
