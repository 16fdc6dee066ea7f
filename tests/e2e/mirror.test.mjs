// Issue #13 end to end: KV mirrors the source query. Rows removed at the
// source leave KV on a full run (with its guards), a forced rewrite repairs
// KV, and hostile rows (a 2099 timestamp, keys KV refuses, a null
// updated_at) never stall, hide or poison the sync. A KV TTL costs one full
// read per half TTL, whatever tombstones there are.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { allKeys, startEmulator, startWorker, waitFor } from "./support/stack.mjs";
import { startKvBulkApi } from "./support/cloudflare.mjs";
import { at, sourceTable, valueOf } from "./support/table.mjs";

let emulator;
before(async () => {
  emulator = await startEmulator();
});
after(async () => emulator?.stop());

/** A table of `n` rows `k-000`…, stamped a minute ago, and a Worker syncing it. */
async function syncedTable(n, vars = {}) {
  const table = await sourceTable(emulator.url);
  const rows = Array.from({ length: n }, (_, i) => ({ key: `k-${String(i).padStart(3, "0")}`, updated_at: at(-60), name: "Ada", visits: i }));
  if (rows.length) await table.insert(rows);
  const worker = await startWorker({ vars: { BIGQUERY_API_BASE: emulator.url, SYNC_QUERY: table.query, ...vars } });
  return { table, rows, worker };
}

async function syncOk(worker, query = "") {
  const { status, body } = await worker.syncNow(query);
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.run.status, "completed", body.run.error ?? "");
  return body.run;
}

describe("hostile rows never stall, hide or poison the sync", () => {
  test("a row stamped 2099 does not freeze the cursor: ten rows changed later reach KV", async () => {
    const { table, worker } = await syncedTable(5);
    try {
      await table.insert([{ key: "from-2099", updated_at: "2099-01-01T00:00:00Z", name: "Future", visits: 1 }]);
      await syncOk(worker);
      assert.deepEqual(await worker.kv.get("from-2099", "json"), { name: "Future", visits: 1 });
      const { body: status } = await worker.status();
      assert.ok(Date.parse(status.cursor.updated_at) <= Date.now() + 61_000, `cursor ${status.cursor.updated_at}`);
      const later = Array.from({ length: 10 }, (_, i) => ({ key: `later-${i}`, updated_at: at(), name: "Later", visits: i }));
      await table.insert(later);
      const run = await syncOk(worker);
      assert.equal(run.rows_written, 10);
      for (const row of later) assert.deepEqual(await worker.kv.get(row.key, "json"), valueOf(row), row.key);
    } finally {
      await worker.dispose();
    }
  });

  test("keys KV refuses (. and ..) are quarantined with KV's reason; the 28 around them are written", async () => {
    const { table, worker } = await syncedTable(0);
    try {
      const rows = Array.from({ length: 28 }, (_, i) => ({ key: `k-${i}`, updated_at: at(-30 + i), visits: i }));
      rows.splice(10, 0, { key: ".", updated_at: at(-20) }, { key: "..", updated_at: at(-19) });
      await table.insert(rows);
      const run = await syncOk(worker);
      assert.equal(run.rows_written, 28);
      assert.equal(run.rows_failed, 2);
      assert.equal((await allKeys(worker.kv)).length, 28);
      const { body } = await worker.status();
      const reasons = Object.fromEntries(body.failed_rows.recent.map((f) => [f.key, f.reason]));
      assert.match(reasons["."], /not allowed as a key name/);
      assert.match(reasons[".."], /not allowed as a key name/);
      for (const reason of Object.values(reasons)) assert.doesNotMatch(reason, /\n|\.js:\d+|file:\/\//, "no stack trace");
    } finally {
      await worker.dispose();
    }
  });

  test("the same on the bulk path: the refused pairs are isolated, the rest written", async () => {
    const bulk = await startKvBulkApi();
    // Every run on the bulk API, however small.
    const { table, worker } = await syncedTable(0, { ...bulk.vars, BULK_MIN_ROWS: "0" });
    bulk.attach(worker.kv);
    try {
      const rows = Array.from({ length: 28 }, (_, i) => ({ key: `k-${i}`, updated_at: at(-30 + i), visits: i }));
      rows.push({ key: ".", updated_at: at(-5) }, { key: "..", updated_at: at(-4) });
      await table.insert(rows);
      const run = await syncOk(worker);
      assert.equal(run.rows_written, 28);
      assert.equal(run.rows_failed, 2);
      assert.equal((await allKeys(worker.kv)).length, 28);
      const { body } = await worker.status();
      assert.deepEqual(body.failed_rows.recent.map((f) => f.key).sort(), [".", ".."]);
      assert.match(body.failed_rows.recent[0].reason, /Invalid key name/);
      assert.ok(bulk.requests.filter((r) => r.status === 200).length >= 2, "the good pairs went through");
    } finally {
      await worker.dispose();
      await bulk.stop();
    }
  });

  test("a row whose updated_at is null is reported, naming updated_at", async () => {
    const { table, worker } = await syncedTable(3);
    try {
      await table.insert([{ key: "undated", updated_at: null }]);
      const run = await syncOk(worker);
      assert.equal(run.rows_failed, 1);
      const { body } = await worker.status();
      assert.equal(body.failed_rows.count, 1);
      assert.equal(body.failed_rows.recent[0].key, "undated");
      assert.match(body.failed_rows.recent[0].reason, /updated_at/);
    } finally {
      await worker.dispose();
    }
  });
});

describe("hard deletes by reconciliation", () => {
  test("5 of 100 rows deleted at the source: ?full=true deletes exactly those 5", async () => {
    const { table, rows, worker } = await syncedTable(100);
    try {
      await syncOk(worker);
      const gone = [rows[3], rows[17], rows[42], rows[77], rows[99]].map((r) => r.key);
      await table.remove(gone);
      const incremental = await syncOk(worker);
      assert.equal(incremental.rows_orphaned, 0, "only a full read can tell");
      const run = await syncOk(worker, "?full=true");
      assert.equal(run.rows_orphaned, 5);
      assert.equal(run.warning, null);
      const keys = new Set(await allKeys(worker.kv));
      assert.equal(keys.size, 95);
      for (const key of gone) assert.ok(!keys.has(key), key);
      assert.equal((await worker.status()).body.last_run.rows_orphaned, 5);
    } finally {
      await worker.dispose();
    }
  });

  test("the whole source emptied: ?full=true deletes nothing and says why", async () => {
    const { table, worker } = await syncedTable(30);
    try {
      await syncOk(worker);
      await table.clear();
      const run = await syncOk(worker, "?full=true");
      assert.equal(run.rows_orphaned, 0);
      assert.match(run.warning, /returned no rows/);
      assert.equal((await allKeys(worker.kv)).length, 30);
    } finally {
      await worker.dispose();
    }
  });

  test("?full=true&rewrite=true repairs a key deleted and another tampered with in KV", async () => {
    const { worker } = await syncedTable(10);
    try {
      await syncOk(worker);
      await worker.kv.delete("k-002");
      await worker.kv.put("k-005", JSON.stringify({ tampered: true }));
      const plain = await syncOk(worker, "?full=true");
      assert.equal(plain.rows_written, 0, "a plain full run trusts its hashes");
      const run = await syncOk(worker, "?full=true&rewrite=true");
      assert.equal(run.rows_written, 10);
      assert.deepEqual(await worker.kv.get("k-002", "json"), { name: "Ada", visits: 2 });
      assert.deepEqual(await worker.kv.get("k-005", "json"), { name: "Ada", visits: 5 });
    } finally {
      await worker.dispose();
    }
  });
});

test("KV TTL 60 s, alarms every 10 s, one tombstone: exactly one full read per half TTL", { timeout: 180_000 }, async () => {
  const { table, worker } = await syncedTable(10, { KV_EXPIRATION_TTL_SECONDS: "60", SYNC_INTERVAL_SECONDS: "10" });
  try {
    await table.insert([{ key: "tomb", updated_at: at(-50), deleted: true }]);
    const started = Date.now();
    await worker.status(); // arms the first alarm
    await waitFor(async () => Date.now() - started > 100_000, { timeoutMs: 140_000, everyMs: 1_000, what: "100 s of alarms" });
    const runs = worker.events("run_started");
    const full = runs.filter((r) => r.full).map((r) => r._at);
    assert.ok(runs.length >= 8, `${runs.length} runs in 100 s`);
    assert.ok(full.length >= 3, `${full.length} full reads in 100 s`);
    // Each full read comes half a TTL after the one before (give or take
    // one alarm interval and a run), never sooner; the runs between are
    // incremental: the tombstone never makes a refresh due.
    for (let i = 1; i < full.length; i++) {
      const gap = (full[i] - full[i - 1]) / 1000;
      assert.ok(gap >= 29 && gap < 45, `full reads ${gap} s apart`);
    }
    assert.ok(runs.length - full.length >= 2 * (full.length - 1), "incremental runs come between them");
    // Every value is still there: refreshed before it expired.
    assert.equal((await allKeys(worker.kv)).length, 10);
  } finally {
    await worker.dispose();
  }
});
