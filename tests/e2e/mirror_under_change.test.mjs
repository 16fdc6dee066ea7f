// Issue #20 end to end: the mirror while things change around it (SPEC "The
// mirror under change"). A bulk API that refuses requests as a whole, a
// deploy that shortens the interval, a `deleted` column of the wrong type.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { allKeys, startEmulator, startWorker, tempDir, waitFor } from "./support/stack.mjs";
import { startKvBulkApi } from "./support/cloudflare.mjs";
import { startBigQueryProxy } from "./support/bigquery_proxy.mjs";
import { at, sourceTable, valueOf } from "./support/table.mjs";

let emulator;
before(async () => {
  emulator = await startEmulator();
});
after(async () => emulator?.stop());

/** Starts a run in the background and waits for it to end. */
async function runToEnd(worker, timeoutMs = 120_000) {
  const { status, body } = await worker.syncNow("?wait=false");
  assert.equal(status, 202, JSON.stringify(body));
  return waitFor(async () => {
    const s = await worker.status();
    return s.body.last_run?.id === body.run.id && s.body.last_run.status !== "running" && s.body;
  }, { timeoutMs, what: `run ${body.run.id} to end` });
}

const rows = (prefix, n, seconds = -60) =>
  Array.from({ length: n }, (_, i) => ({ key: `${prefix}-${String(i).padStart(3, "0")}`, updated_at: at(seconds), name: "Ada", visits: i }));

describe("the bulk API refusing requests as a whole is a configuration problem, not the rows'", () => {
  test("a wrong namespace id: every row goes through the binding, none is quarantined, the warning quotes the API", async () => {
    const bulk = await startKvBulkApi();
    const table = await sourceTable(emulator.url);
    const source = rows("k", 40);
    await table.insert(source);
    const worker = await startWorker({
      vars: { BIGQUERY_API_BASE: emulator.url, SYNC_QUERY: table.query, ...bulk.vars, KV_NAMESPACE_ID: "not-our-namespace", BULK_MIN_ROWS: "0" },
    });
    bulk.attach(worker.kv);
    try {
      const status = await runToEnd(worker);
      const run = status.last_run;
      assert.equal(run.status, "completed", JSON.stringify(run));
      assert.equal(run.rows_written, 40);
      assert.equal(run.rows_failed, 0);
      assert.equal(run.kv_path, "binding");
      assert.match(run.warning, /refused a request as a whole/);
      assert.match(run.warning, /code 7003/);
      assert.equal(status.failed_rows.count, 0);
      assert.equal(bulk.requests.length, 0, "the double saw no request it could route");
      assert.equal((await allKeys(worker.kv)).length, 40);
      for (const row of source) assert.deepEqual(await worker.kv.get(row.key, "json"), valueOf(row), row.key);
      assert.equal(worker.events("kv_bulk_request").length, 1, "one refused request, not halved down to single keys");
    } finally {
      await worker.dispose();
      await bulk.stop();
    }
  });

  test("a revoked token: the run goes on through the binding; once restored, runs use the bulk API again", async () => {
    const bulk = await startKvBulkApi();
    const table = await sourceTable(emulator.url);
    await table.insert(rows("k", 30));
    const worker = await startWorker({ vars: { BIGQUERY_API_BASE: emulator.url, SYNC_QUERY: table.query, ...bulk.vars, BULK_MIN_ROWS: "0" } });
    bulk.attach(worker.kv);
    try {
      assert.equal((await runToEnd(worker)).last_run.kv_path, "bulk");
      bulk.revoke();
      const later = rows("later", 20, -5);
      await table.insert(later);
      const revoked = (await runToEnd(worker)).last_run;
      assert.equal(revoked.status, "completed", JSON.stringify(revoked));
      assert.equal(revoked.rows_written, 20);
      assert.equal(revoked.kv_path, "binding");
      assert.match(revoked.warning, /Authentication error/);
      for (const row of later) assert.deepEqual(await worker.kv.get(row.key, "json"), valueOf(row), row.key);
      bulk.restore();
      await table.insert(rows("again", 5, -1));
      const restored = (await runToEnd(worker)).last_run;
      assert.equal(restored.kv_path, "bulk", JSON.stringify(restored));
      assert.equal(restored.warning, null);
      assert.equal((await allKeys(worker.kv)).length, 55);
    } finally {
      await worker.dispose();
      await bulk.stop();
    }
  });
});

test("a deploy that shortens SYNC_INTERVAL_SECONDS moves the next run forward the first time the object wakes", async () => {
  const state = tempDir();
  const table = await sourceTable(emulator.url);
  await table.insert(rows("k", 3));
  const vars = { BIGQUERY_API_BASE: emulator.url, SYNC_QUERY: table.query };
  let worker = await startWorker({ vars: { ...vars, SYNC_INTERVAL_SECONDS: "3600" }, persistDir: state.dir });
  try {
    const { status, body } = await worker.syncNow();
    assert.equal(status, 200, JSON.stringify(body));
    const ended = Date.parse((await worker.status()).body.last_run.finished_at);
    const before = Date.parse((await worker.status()).body.next_sync_at);
    assert.ok(Math.abs(before - (ended + 3_600_000)) < 2_000, `next run an hour after the last: ${before - ended} ms`);
    await worker.dispose();
    worker = await startWorker({ vars: { ...vars, SYNC_INTERVAL_SECONDS: "60" }, persistDir: state.dir });
    const after = Date.parse((await worker.status()).body.next_sync_at);
    assert.ok(Math.abs(after - (ended + 60_000)) < 2_000, `next run a minute after the last: ${after - ended} ms`);
  } finally {
    await worker.dispose();
    state.remove();
  }
});

test("a `deleted` column that is not BOOL fails the run, naming the column and its type, and writes nothing", async () => {
  const table = await sourceTable(emulator.url);
  await table.insert(rows("k", 3));
  const query = table.query.replace("deleted FROM", "IF(deleted, 'yes', 'no') AS deleted FROM");
  const worker = await startWorker({ vars: { BIGQUERY_API_BASE: emulator.url, SYNC_QUERY: query } });
  try {
    const { status, body } = await worker.syncNow();
    assert.equal(status, 502, JSON.stringify(body));
    const run = (await worker.status()).body.last_run;
    assert.equal(run.status, "failed");
    assert.equal(run.error_class, "invalidQuery");
    assert.match(run.error, /`deleted` must be BOOL/);
    assert.match(run.error, /gives it STRING/);
    assert.equal((await allKeys(worker.kv)).length, 0);
  } finally {
    await worker.dispose();
  }
});

test("rows later than the lookback are counted by the next full run, with the lookback that would have caught them", async () => {
  const table = await sourceTable(emulator.url);
  await table.insert(rows("k", 3, -30));
  const worker = await startWorker({ vars: { BIGQUERY_API_BASE: emulator.url, SYNC_QUERY: table.query, SYNC_LOOKBACK_SECONDS: "600" } });
  try {
    assert.equal((await worker.syncNow()).body.run.rows_late, 0, "the first read counts none");
    await table.insert([{ key: "late", updated_at: at(-7_200), name: "Lou", visits: 1 }]);
    const incremental = (await worker.syncNow()).body.run;
    assert.equal(incremental.full, false);
    assert.equal(await worker.kv.get("late"), null, "no incremental run can read it");
    const { status, body } = await worker.syncNow("?full=true");
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.run.rows_late, 1, JSON.stringify(body.run));
    assert.match(body.run.warning, /SYNC_LOOKBACK_SECONDS \(600 s\)/);
    const needs = Number(/SYNC_LOOKBACK_SECONDS = (\d+) would have caught them/.exec(body.run.warning)?.[1]);
    assert.ok(needs >= 7_160 && needs <= 7_200, `the lookback named: ${needs}`);
    assert.deepEqual(await worker.kv.get("late", "json"), { name: "Lou", visits: 1 });
  } finally {
    await worker.dispose();
  }
});

test("failing rows read again by every run are counted once, past the 10,000 listed too", { timeout: 240_000 }, async () => {
  // 10,050 rows without updated_at, read (and quarantined) by every run.
  const query = "SELECT CONCAT('k', CAST(x AS STRING)) AS key, CAST(NULL AS TIMESTAMP) AS updated_at, 'x' AS name FROM UNNEST(GENERATE_ARRAY(1, 10050)) AS x";
  const worker = await startWorker({ vars: { BIGQUERY_API_BASE: emulator.url, SYNC_QUERY: query } });
  try {
    for (let run = 1; run <= 3; run++) {
      const status = await runToEnd(worker);
      assert.equal(status.last_run.status, "completed", JSON.stringify(status.last_run));
      assert.equal(status.failed_rows.count, 10_050, `after run ${run}`);
    }
  } finally {
    await worker.dispose();
  }
});

test("a full read that keeps failing leaves incremental runs running between its retries", async () => {
  const proxy = await startBigQueryProxy(emulator.url);
  const state = tempDir();
  const table = await sourceTable(emulator.url);
  await table.insert(rows("k", 3));
  const vars = { BIGQUERY_API_BASE: proxy.url, SYNC_QUERY: table.query };
  let worker = await startWorker({ vars, persistDir: state.dir });
  try {
    assert.equal((await worker.syncNow()).status, 200);
    await worker.dispose();
    // A new query is deployed (a full read is due), and BigQuery refuses
    // the unpruned read of the whole table.
    worker = await startWorker({ vars: { ...vars, SYNC_QUERY: `${table.query} WHERE TRUE` }, persistDir: state.dir });
    proxy.knobs.failFullReads = true;
    const failed = await worker.syncNow();
    assert.equal(failed.status, 502, JSON.stringify(failed.body));
    assert.equal(failed.body.run.full, true);
    assert.equal(failed.body.run.error_class, "resourcesExceeded", "a valid query BigQuery could not afford, not an invalid one");
    for (let round = 0; round < 2; round++) {
      const fresh = rows(`new${round}`, 2, -1);
      await table.insert(fresh);
      const between = await worker.syncNow();
      assert.equal(between.status, 200, JSON.stringify(between.body));
      assert.equal(between.body.run.full, false);
      assert.match(between.body.run.reason, /between retries of the failing full read/);
      for (const row of fresh) assert.deepEqual(await worker.kv.get(row.key, "json"), valueOf(row), row.key);
      const retry = await worker.syncNow();
      assert.equal(retry.status, 502, "the full read is retried, and fails again");
      assert.equal(retry.body.run.full, true);
    }
    proxy.knobs.failFullReads = false;
    assert.equal((await worker.syncNow()).body.run.full, false, "changes first, after the failed retry");
    const done = await worker.syncNow();
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.equal(done.body.run.full, true);
    assert.equal((await allKeys(worker.kv)).length, 7);
  } finally {
    await worker.dispose();
    await proxy.stop();
    state.remove();
  }
});

test("a run whose pages take longer to read than INVOCATION_BUDGET_MS still completes", { timeout: 120_000 }, async () => {
  const proxy = await startBigQueryProxy(emulator.url);
  const table = await sourceTable(emulator.url);
  const source = rows("k", 20);
  await table.insert(source);
  proxy.knobs.pageDelayMs = 300;
  const worker = await startWorker({
    vars: { BIGQUERY_API_BASE: proxy.url, SYNC_QUERY: table.query, INVOCATION_BUDGET_MS: "100", BIGQUERY_PAGE_ROWS: "5" },
  });
  try {
    const status = await runToEnd(worker, 60_000);
    assert.equal(status.last_run.status, "completed", JSON.stringify(status.last_run));
    assert.equal((await allKeys(worker.kv)).length, 20);
    for (const row of source) assert.deepEqual(await worker.kv.get(row.key, "json"), valueOf(row), row.key);
  } finally {
    await worker.dispose();
    await proxy.stop();
  }
});

test("a page request that never answers is abandoned after 30 s and read again; the run completes", { timeout: 180_000 }, async () => {
  const proxy = await startBigQueryProxy(emulator.url);
  const table = await sourceTable(emulator.url);
  const source = rows("k", 6);
  await table.insert(source);
  proxy.knobs.stallPages = 1;
  const worker = await startWorker({ vars: { BIGQUERY_API_BASE: proxy.url, SYNC_QUERY: table.query, BIGQUERY_PAGE_ROWS: "2" } });
  try {
    const status = await runToEnd(worker, 150_000);
    const run = status.last_run;
    assert.equal(run.status, "completed", JSON.stringify(run));
    assert.equal(run.rows_written, 6);
    for (const row of source) assert.deepEqual(await worker.kv.get(row.key, "json"), valueOf(row), row.key);
    assert.equal(proxy.stalled.length, 1);
    const [stall] = proxy.stalled;
    assert.ok(stall.closedAt, "the Worker never gave up on the request that had no answer");
    const waited = stall.closedAt - stall.at;
    assert.ok(waited >= 29_000 && waited < 45_000, `abandoned after ${waited} ms, not about 30 s`);
  } finally {
    await worker.dispose();
    await proxy.stop();
  }
});

test("a deploy that changes a sync's key_prefix moves every key to the new prefix and deletes the old ones, past the mass-delete guard", async () => {
  const state = tempDir();
  const table = await sourceTable(emulator.url);
  const source = rows("k", 10);
  await table.insert(source);
  const sync = (prefix) => JSON.stringify([{ name: "leads", query: table.query, key_prefix: prefix }]);
  const vars = { BIGQUERY_API_BASE: emulator.url, SYNC_QUERY: "SELECT 1", RECONCILE_MAX_DELETE_PERCENT: "20" };
  let worker = await startWorker({ vars: { ...vars, SYNCS: sync("a:") }, persistDir: state.dir });
  try {
    assert.equal((await worker.syncNow("?sync=leads")).body.run.rows_written, 10);
    assert.equal((await allKeys(worker.kv)).filter((k) => k.startsWith("a:")).length, 10);
    await worker.dispose();
    // One row leaves the source while the prefix changes.
    await table.remove(["k-009"]);
    worker = await startWorker({ vars: { ...vars, SYNCS: sync("b:") }, persistDir: state.dir });
    const { status, body } = await worker.syncNow("?sync=leads");
    assert.equal(status, 200, JSON.stringify(body));
    const run = body.run;
    assert.equal(run.status, "completed", JSON.stringify(run));
    assert.equal(run.full, true);
    assert.match(run.reason, /key_prefix \("a:" → "b:"\) changed/);
    assert.equal(run.rows_written, 9);
    assert.equal(run.rows_orphaned, 1, "the row that left the source");
    assert.equal(run.warning, null, "moving keys is not a mass delete");
    assert.deepEqual((await allKeys(worker.kv)).sort(), source.slice(0, 9).map((r) => `b:${r.key}`));
    for (const row of source.slice(0, 9)) assert.deepEqual(await worker.kv.get(`b:${row.key}`, "json"), valueOf(row), row.key);
    // The next run has nothing left to move.
    const next = (await worker.syncNow("?sync=leads&full=true")).body.run;
    assert.equal(next.rows_written + next.rows_orphaned, 0, JSON.stringify(next));
  } finally {
    await worker.dispose();
    state.remove();
  }
});

test("a key handed to another sync in the same namespace and prefix keeps its value through every full run of both", async () => {
  const state = tempDir();
  const table = await sourceTable(emulator.url);
  const source = rows("k", 10);
  await table.insert(source);
  const vars = { BIGQUERY_API_BASE: emulator.url, SYNC_QUERY: "SELECT 1" };
  const one = [{ name: "a", query: table.query, key_prefix: "p:" }];
  let worker = await startWorker({ vars: { ...vars, SYNCS: JSON.stringify(one) }, persistDir: state.dir });
  try {
    assert.equal((await worker.syncNow("?sync=a")).body.run.rows_written, 10);
    await worker.dispose();
    // The sync is split: k-009 moves to a new sync b, under the same prefix.
    const split = [
      { name: "a", query: `${table.query} WHERE key <> 'k-009'`, key_prefix: "p:" },
      { name: "b", query: `${table.query} WHERE key = 'k-009'`, key_prefix: "p:" },
    ];
    worker = await startWorker({ vars: { ...vars, SYNCS: JSON.stringify(split) }, persistDir: state.dir });
    const b = (await worker.syncNow("?sync=b")).body.run;
    assert.equal(b.rows_written, 1, JSON.stringify(b));
    for (const round of [1, 2]) {
      const a = (await worker.syncNow(round === 1 ? "?sync=a" : "?sync=a&full=true")).body.run;
      assert.equal(a.status, "completed", JSON.stringify(a));
      assert.equal(a.full, true);
      assert.equal(a.rows_orphaned, 0, `round ${round}: a deleted the key b wrote: ${JSON.stringify(a)}`);
      const again = (await worker.syncNow("?sync=b&full=true")).body.run;
      assert.equal(again.status, "completed", JSON.stringify(again));
      assert.deepEqual(await worker.kv.get("p:k-009", "json"), valueOf(source[9]), `round ${round}`);
      assert.equal((await allKeys(worker.kv)).length, 10, `round ${round}`);
    }
  } finally {
    await worker.dispose();
    state.remove();
  }
});

test("a deploy that turns KV_EXPIRATION_TTL_SECONDS off rewrites every value without an expiration", async () => {
  const state = tempDir();
  const table = await sourceTable(emulator.url);
  await table.insert(rows("k", 5));
  const vars = { BIGQUERY_API_BASE: emulator.url, SYNC_QUERY: table.query };
  let worker = await startWorker({ vars: { ...vars, KV_EXPIRATION_TTL_SECONDS: "3600" }, persistDir: state.dir });
  try {
    assert.equal((await worker.syncNow()).status, 200);
    const expiring = (await worker.kv.list()).keys;
    assert.equal(expiring.length, 5);
    assert.ok(expiring.every((k) => k.expiration), "written with a TTL");
    await worker.dispose();
    worker = await startWorker({ vars: { ...vars, KV_EXPIRATION_TTL_SECONDS: "0" }, persistDir: state.dir });
    const { status, body } = await worker.syncNow();
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.run.full, true);
    assert.equal(body.run.rows_written, 5, "every value written again");
    assert.match(body.run.reason, /KV_EXPIRATION_TTL_SECONDS \(3600 → 0\) changed/);
    const kept = (await worker.kv.list()).keys;
    assert.equal(kept.length, 5);
    assert.ok(kept.every((k) => !k.expiration), JSON.stringify(kept));
    assert.equal((await worker.syncNow()).body.run.full, false, "and the runs after it read changes only");
  } finally {
    await worker.dispose();
    state.remove();
  }
});

test("a query deployed while a full read is under way makes the next run full again", { timeout: 120_000 }, async () => {
  const proxy = await startBigQueryProxy(emulator.url);
  const state = tempDir();
  const table = await sourceTable(emulator.url);
  await table.insert(rows("k", 6));
  proxy.knobs.pageDelayMs = 400;
  // A short budget: the lease of the invocation the restart cuts lapses soon.
  const vars = { BIGQUERY_API_BASE: proxy.url, BIGQUERY_PAGE_ROWS: "1", MAX_KV_WRITES_PER_INVOCATION: "1", INVOCATION_BUDGET_MS: "2000" };
  let worker = await startWorker({ vars: { ...vars, SYNC_QUERY: table.query }, persistDir: state.dir });
  try {
    // The first (full) read starts, one row a page, and has written a key.
    assert.equal((await worker.syncNow("?wait=false")).status, 202);
    await waitFor(async () => (await allKeys(worker.kv)).length > 0, { what: "the first key" });
    await worker.dispose();
    // A new query is deployed while it runs; the run ends on its own job.
    worker = await startWorker({ vars: { ...vars, SYNC_QUERY: `${table.query} WHERE TRUE` }, persistDir: state.dir });
    proxy.knobs.pageDelayMs = 0;
    const first = await waitFor(async () => {
      const s = (await worker.status()).body;
      return s.last_run?.id === 1 && s.last_run.status !== "running" && s.last_run;
    }, { timeoutMs: 60_000, what: "the first run to end" });
    assert.equal(first.status, "completed", JSON.stringify(first));
    const { status, body } = await worker.syncNow();
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.run.full, true, JSON.stringify(body.run));
    assert.match(body.run.reason, /SYNC_QUERY changed/);
  } finally {
    await worker.dispose();
    await proxy.stop();
    state.remove();
  }
});
