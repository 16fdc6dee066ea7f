// Issue #6: the KV bulk REST path end to end, against a local double of the
// documented endpoint that writes into the Worker's own KV.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { allKeys, seed, startEmulator, startWorker, waitFor } from "./support/stack.mjs";
import { expectedValues } from "./support/expect.mjs";
import { startKvBulkApi } from "./support/cloudflare.mjs";

const LEADS = 20_000;
let emulator;
let bulk;
let worker;

before(async () => {
  emulator = await startEmulator();
  await seed(emulator.url, ["--reset", "--leads", String(LEADS), "--events-per-lead", "1", "--seed", "8"]);
  bulk = await startKvBulkApi();
  // Runs of more than 100 rows take the bulk API: the partial failure
  // below is a run of a few hundred.
  worker = await startWorker({ vars: { BIGQUERY_API_BASE: emulator.url, BULK_MIN_ROWS: "100", ...bulk.vars } });
  bulk.attach(worker.kv);
});
after(async () => {
  await worker?.dispose();
  await bulk?.stop();
  await emulator?.stop();
});

/** Starts a run in the background and waits for it to end. */
async function syncToCompletion() {
  const { status, body } = await worker.syncNow("?wait=false");
  assert.equal(status, 202, JSON.stringify(body));
  return waitFor(async () => {
    const s = await worker.status();
    return s.body.last_run?.id === body.run.id && s.body.last_run;
  }, { timeoutMs: 240_000, what: `run ${body.run.id} to finish` });
}

async function assertAllCorrect() {
  const expected = await expectedValues(emulator.url);
  assert.equal((await allKeys(worker.kv)).length, expected.size);
  const entries = [...expected.entries()];
  for (let i = 0; i < entries.length; i += 500) {
    await Promise.all(entries.slice(i, i + 500).map(async ([key, { value, updatedAt }]) => {
      const { value: text, metadata } = await worker.kv.getWithMetadata(key);
      assert.deepEqual(JSON.parse(text), value, key);
      assert.equal(metadata.updated_at, updatedAt);
    }));
  }
}

test("a 20,000-lead import takes ⌈rows / 10,000⌉ bulk requests plus one retry of an injected 429", { timeout: 300_000 }, async () => {
  bulk.inject429(1);
  const run = await syncToCompletion();
  assert.equal(run.status, "completed", run.error ?? "");
  assert.equal(run.rows_written, LEADS);
  assert.deepEqual(bulk.problems, []);
  assert.equal(bulk.requests.length, Math.ceil(LEADS / 10_000) + 1);
  assert.equal(bulk.requests[0].status, 429);
  assert.deepEqual(bulk.requests[1].keys, bulk.requests[0].keys, "the 429'd request was sent again");
  assert.ok(bulk.requests.every((r) => r.keys.length <= 10_000));
  assert.equal(run.kv_path, "bulk");
  assert.match(run.kv_path_reason, /20000 rows, more than BULK_MIN_ROWS \(100\)/);
  await assertAllCorrect();
});

test("a run of 3 new leads takes the binding and makes no bulk request", { timeout: 300_000 }, async () => {
  await seed(emulator.url, ["--leads", "3", "--start-id", String(LEADS + 1), "--seed", "8"]);
  const before = bulk.requests.length;
  const run = await syncToCompletion();
  assert.equal(run.status, "completed", run.error ?? "");
  assert.equal(bulk.requests.length, before, "no bulk request");
  assert.equal(run.kv_path, "binding");
  assert.ok(run.rows_written >= 3, JSON.stringify(run));
  await assertAllCorrect();
});

test("a partial failure leaves exactly the failed keys for the next invocation", { timeout: 300_000 }, async () => {
  await seed(emulator.url, ["--update-fraction", "0.01", "--leads", "0", "--seed", "8"]);
  bulk.failFirstKeysOfNextRequest(7);
  const before = bulk.requests.length;
  const done = await syncToCompletion();
  assert.equal(done.status, "completed", done.error ?? "");
  const sent = bulk.requests.slice(before);
  assert.equal(sent.length, 2);
  assert.deepEqual(sent[1].keys, sent[0].keys.slice(0, 7), "only the failed keys were written again");
  // Keys acknowledged past the failed ones count as unchanged on the replay.
  assert.equal(done.rows_written + done.rows_unchanged >= sent[0].keys.length, true);
  assert.ok(done.invocations >= 2);
  await assertAllCorrect();
});
