// What the live-sync tests share: delivering like Pub/Sub, the checks of an
// answer, and snapshots of what KV and failed_rows hold.
import assert from "node:assert/strict";
import { allKeys, SECRET, sleep, waitFor } from "./stack.mjs";
import { at } from "./table.mjs";
import { envelope, push, toJsonString } from "./oidc.mjs";

export const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;
export const MICROS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

/** An RFC 3339 time `seconds` from now, with `micros` (0–999) after its milliseconds. */
export const stamp = (seconds, micros = 0) => at(seconds).replace(/Z$/, `${String(micros).padStart(3, "0")}Z`);

/** The push of one row of the source table, as a continuous query's EXPORT DATA sends it. */
export const message = (row, extra) => envelope(toJsonString(row, extra));

/** Delivers like Pub/Sub: a `503` is delivered again a little over a second later. */
export async function deliver(worker, body, token, query = "") {
  for (let attempt = 1; ; attempt++) {
    const answer = await push(worker, body, token, query);
    if (answer.status !== 503 || attempt === 8) return answer;
    await sleep(1100);
  }
}

export function expectOutcome(answer, outcome, key) {
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  assert.equal(answer.body.success, true, JSON.stringify(answer.body));
  assert.equal(answer.body.outcome, outcome, JSON.stringify(answer.body));
  if (key !== undefined) assert.equal(answer.body.key, key, JSON.stringify(answer.body));
}

export function expectRefused(answer, status, what) {
  assert.equal(answer.status, status, `${what}: ${JSON.stringify(answer.body)}`);
  assert.equal(answer.body.success, false, what);
  assert.equal(typeof answer.body.error, "string", what);
  assert.ok(!JSON.stringify(answer.body).includes(SECRET), `${what}: no secret in the answer`);
}

/** Every key in KV with its value and metadata. */
export async function snapshot(kv) {
  const all = {};
  for (const key of (await allKeys(kv)).sort()) {
    const { value, metadata } = await kv.getWithMetadata(key);
    all[key] = { value, metadata };
  }
  return all;
}

/** A pull of our own, completed (after any run under way). */
export async function pull(worker) {
  for (let attempt = 0; attempt < 5; attempt++) {
    await waitFor(async () => (await worker.status()).body.current_run === null, { timeoutMs: 120_000, what: "the run under way to end" });
    const { status, body } = await worker.syncNow();
    if (status === 200) {
      assert.equal(body.run.status, "completed", JSON.stringify(body.run));
      return body.run;
    }
    // A run was under way after all (an alarm's): ours after it.
    assert.equal(status, 202, JSON.stringify(body));
  }
  return assert.fail("no pull of our own completed in five tries");
}

export const pushStatus = async (worker) => (await worker.status()).body.push;

/** KV and failed_rows are as they were (`before`: a snapshot and the failed_rows count). */
export async function assertNothingWritten(worker, before, what) {
  assert.deepEqual(await snapshot(worker.kv), before.kv, `${what}: KV is as it was`);
  assert.equal((await worker.status()).body.failed_rows.count, before.failed, `${what}: no failed row`);
}

export const observe = async (worker) => ({ kv: await snapshot(worker.kv), failed: (await worker.status()).body.failed_rows.count });
