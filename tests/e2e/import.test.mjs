// Issue #3 end to end: a 20,000-lead import with 1,000 KV writes an
// invocation completes across ≥ 20 invocations (alarms), every value
// correct, and /status shows it running with progress in between. Then a
// change to 1% of the leads syncs exactly those, in one BigQuery job.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { allKeys, seed, sleep, startEmulator, startWorker } from "./support/stack.mjs";
import { expectedValues } from "./support/expect.mjs";

const LEADS = 20_000;
let emulator;
let worker;

before(async () => {
  emulator = await startEmulator();
  await seed(emulator.url, ["--reset", "--leads", String(LEADS), "--events-per-lead", "2", "--seed", "3"]);
  worker = await startWorker({
    vars: { BIGQUERY_API_BASE: emulator.url, MAX_KV_WRITES_PER_INVOCATION: "1000" },
  });
});
after(async () => {
  await worker?.dispose();
  await emulator?.stop();
});

async function compareAll() {
  const expected = await expectedValues(emulator.url);
  assert.equal(expected.size, LEADS);
  const keys = await allKeys(worker.kv);
  assert.equal(keys.length, LEADS, "exactly one KV value per lead");
  const mismatches = [];
  const entries = [...expected.entries()];
  for (let i = 0; i < entries.length; i += 200) {
    await Promise.all(entries.slice(i, i + 200).map(async ([key, { value }]) => {
      const held = await worker.kv.get(key, "json");
      try {
        assert.deepEqual(held, value);
      } catch {
        mismatches.push(key);
      }
    }));
  }
  assert.deepEqual(mismatches.slice(0, 5), [], `${mismatches.length} values differ`);
}

test("a 20,000-lead import continues across invocations until every value is in KV", { timeout: 600_000 }, async () => {
  const started = await worker.syncNow();
  assert.equal(started.status, 202, JSON.stringify(started.body));
  assert.equal(started.body.message, "KV sync started; continuing in background");
  const runId = started.body.run.id;

  const progress = [];
  let final;
  for (let i = 0; i < 3_000 && !final; i++) {
    const { body } = await worker.status();
    if (body.current_run) progress.push({ state: body.state, read: body.current_run.rows_read, total: body.current_run.total_rows });
    if (body.last_run?.id === runId) final = body;
    else await sleep(200);
  }
  assert.ok(final, "the run finished");
  assert.equal(final.last_run.status, "completed", final.last_run.error ?? "");
  assert.ok(final.last_run.invocations >= 20, `${final.last_run.invocations} invocations`);
  assert.equal(final.last_run.bigquery_jobs, 1, "one BigQuery job for the whole run");
  assert.equal(final.last_run.rows_written, LEADS);
  assert.equal(final.last_run.total_rows, LEADS);
  const midway = progress.filter((p) => p.state === "running" && p.read > 0 && p.read < LEADS && p.total === LEADS);
  assert.ok(midway.length >= 3, `status showed progress while running: ${JSON.stringify(progress.slice(-5))}`);
  const reads = midway.map((p) => p.read);
  assert.deepEqual(reads, [...reads].sort((a, b) => a - b), "progress never went backward");
  const paused = worker.events("run_paused");
  assert.ok(paused.length >= 19 && paused.every((e) => e.reason === "WriteBudget"), `${paused.length} pauses`);
  await compareAll();
});

async function snapshot() {
  const values = new Map();
  const keys = await allKeys(worker.kv);
  for (let i = 0; i < keys.length; i += 500) {
    await Promise.all(keys.slice(i, i + 500).map(async (k) => values.set(k, await worker.kv.get(k))));
  }
  return values;
}

test("a change to 1% of the leads rewrites exactly those, in one job", { timeout: 300_000 }, async () => {
  const before = await snapshot();
  await seed(emulator.url, ["--update-fraction", "0.01", "--leads", "0", "--seed", "3"]);
  const { status, body } = await worker.syncNow();
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.run.bigquery_jobs, 1);
  const afterSync = await snapshot();
  const changed = [...afterSync].filter(([k, v]) => before.get(k) !== v).length;
  assert.ok(changed >= 150 && changed <= 250, `${changed} values changed for a 1% update`);
  assert.equal(body.run.rows_written, changed, "KV writes equal the changed rows");
  await compareAll();
});
