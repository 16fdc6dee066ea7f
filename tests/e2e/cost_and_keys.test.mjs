// Issue #22 end to end (SPEC "Cost and explanation"): what each run cost,
// from BigQuery's own figures and the storage's counts, a day of it at list
// prices in /status, and GET /keys/KEY explaining one key.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { allKeys, SECRET, startEmulator, startWorker, waitFor } from "./support/stack.mjs";
import { startBigQueryProxy } from "./support/bigquery_proxy.mjs";
import { at, sourceTable, valueOf } from "./support/table.mjs";

let emulator;
before(async () => {
  emulator = await startEmulator();
});
after(async () => emulator?.stop());

const rows = (keys) => keys.map((key, i) => ({ key, updated_at: at(-60 + i), name: "Ada", visits: i }));

describe("each run's cost", () => {
  test("BigQuery's figures are carried exactly; an idle run writes no KV; /status prices a day", { timeout: 120_000 }, async () => {
    const proxy = await startBigQueryProxy(emulator.url);
    const table = await sourceTable(emulator.url);
    await table.insert(rows(["a", "b", "c"]));
    const worker = await startWorker({ vars: { BIGQUERY_API_BASE: proxy.url, SYNC_QUERY: table.query } });
    try {
      // Given BigQuery reporting what the first run's job cost
      proxy.knobs.cost = { totalBytesBilled: "10485760", totalBytesProcessed: "1234", cacheHit: false };
      const first = await worker.syncNow();
      assert.equal(first.status, 200, JSON.stringify(first.body));
      let run = (await worker.status()).body.last_run;
      assert.deepEqual(
        [run.cost.bigquery_bytes_billed, run.cost.bigquery_bytes_processed, run.cost.bigquery_cache_hit],
        [10_485_760, 1_234, false],
      );
      assert.equal(run.cost.kv_writes, 3);
      assert.equal(run.cost.kv_deletes, 0);
      assert.ok(run.cost.storage_rows_written > 0, JSON.stringify(run.cost));
      // When the next run finds nothing new and BigQuery's cache answers
      proxy.knobs.cost = { totalBytesBilled: "0", totalBytesProcessed: "0", cacheHit: true };
      await worker.syncNow();
      run = (await worker.status()).body.last_run;
      assert.deepEqual([run.cost.bigquery_bytes_billed, run.cost.bigquery_cache_hit, run.cost.kv_writes], [0, true, 0]);
      // Then /status sums the day and prices it
      const { cost } = (await worker.status()).body;
      assert.deepEqual(cost.prices, {
        bigquery_usd_per_tib_billed: 6.25, kv_usd_per_million_writes: 5,
        storage_usd_per_million_rows_written: 1, storage_usd_per_million_rows_read: 0.001,
      });
      const day = cost.last_24h;
      assert.deepEqual([day.runs, day.bigquery_bytes_billed, day.bigquery_cache_hit, day.kv_writes], [2, 10_485_760, 1, 3]);
      const expected = (day.bigquery_bytes_billed / 2 ** 40) * 6.25 + ((day.kv_writes + day.kv_deletes) / 1e6) * 5
        + (day.storage_rows_written / 1e6) * 1 + (day.storage_rows_read / 1e6) * 0.001;
      assert.ok(Math.abs(cost.estimated_usd_per_day - expected) < 1e-12, `${cost.estimated_usd_per_day} vs ${expected}`);
      // And what BigQuery does not report is null, not invented: the
      // emulator reports bytes processed and cacheHit, never bytes billed
      proxy.knobs.cost = null;
      await worker.syncNow();
      run = (await worker.status()).body.last_run;
      assert.equal(run.cost.bigquery_bytes_billed, null, JSON.stringify(run.cost));
      assert.equal(run.cost.bigquery_cache_hit, false);
      const line = worker.events("run_completed").at(-1);
      assert.ok(line?.storage_rows?.written > 0, `the run's log line counts its storage rows: ${JSON.stringify(line)}`);
    } finally {
      await worker.dispose();
      await proxy.stop();
    }
  });

  test("a job still running when jobs.query answered has its bill from jobs.get", { timeout: 120_000 }, async () => {
    const proxy = await startBigQueryProxy(emulator.url);
    const table = await sourceTable(emulator.url);
    await table.insert(rows(["a", "b"]));
    const worker = await startWorker({ vars: { BIGQUERY_API_BASE: proxy.url, SYNC_QUERY: table.query } });
    try {
      // Given BigQuery answering jobs.query before the job finished
      proxy.knobs.late = { totalBytesBilled: "20971520", totalBytesProcessed: "4321", cacheHit: false };
      // When a run reads the job's results
      const { status, body } = await worker.syncNow();
      assert.equal(status, 200, JSON.stringify(body));
      // Then its cost carries what jobs.get reported the job billed
      const run = (await worker.status()).body.last_run;
      assert.equal(run.status, "completed", JSON.stringify(run));
      assert.deepEqual(
        [run.cost.bigquery_bytes_billed, run.cost.bigquery_bytes_processed, run.cost.bigquery_cache_hit, run.cost.kv_writes],
        [20_971_520, 4_321, false, 2],
      );
      const asked = proxy.requests.filter((r) => r.method === "GET" && /\/jobs\/[^/?]+(\?|$)/.test(r.url));
      assert.equal(asked.length, 1, "jobs.get once, for the job's first page");
    } finally {
      await worker.dispose();
      await proxy.stop();
    }
  });

  test("a full run over 3,000 unchanged keys writes at most 300 storage rows, and still deletes what left the source", { timeout: 180_000 }, async () => {
    // Given 3,000 keys in KV as in the source (stamps not in key order)
    const table = await sourceTable(emulator.url);
    const keys = Array.from({ length: 3_000 }, (_, i) => `lead-${String(i).padStart(4, "0")}`);
    await table.insert(keys.map((key, i) => ({ key, updated_at: at(-3_600 + ((i * 7919) % 3_000)), name: "Ada", visits: i })));
    const worker = await startWorker({ vars: { BIGQUERY_API_BASE: emulator.url, SYNC_QUERY: table.query } });
    try {
      const completed = async (query) => {
        const { status, body } = await worker.syncNow(query);
        assert.equal(status, 202, JSON.stringify(body));
        return waitFor(async () => {
          const { body: s } = await worker.status();
          return s.last_run?.id === body.run.id && s.last_run.status === "completed" && s.last_run;
        }, { timeoutMs: 120_000, what: `run ${body.run.id}` });
      };
      const first = await completed("?wait=false");
      assert.equal(first.rows_written, 3_000);
      // and one key that then left the source
      await table.remove(["lead-1234"]);
      // When a full run reads them all again
      const run = await completed("?wait=false&full=true");
      // Then it wrote storage rows for what changed, not one per key
      assert.equal(run.rows_read, 2_999);
      assert.ok(run.cost.storage_rows_written <= 300, `a full run over unchanged keys wrote ${run.cost.storage_rows_written} storage rows`);
      assert.deepEqual([run.cost.kv_writes, run.cost.kv_deletes, run.rows_orphaned], [0, 1, 1]);
      assert.equal(await worker.kv.get("lead-1234"), null);
      assert.notEqual(await worker.kv.get("lead-1233"), null);
      assert.equal((await allKeys(worker.kv)).length, 2_999);
    } finally {
      await worker.dispose();
    }
  });
});

describe("GET /keys/KEY", () => {
  const STATUS_TOKEN = "read-only-" + Math.random().toString(36).slice(2);
  let table;
  let worker;
  let runId;
  const explain = async (key, token = SECRET) => {
    const headers = token ? { authorization: `Bearer ${token}` } : {};
    const r = await worker.call(`/keys/${encodeURIComponent(key)}`, { headers });
    return { status: r.status, body: await r.json() };
  };
  before(async () => {
    table = await sourceTable(emulator.url);
    await table.insert([...rows(["a", "b", "c", "lead:é/1"]), { key: "q", updated_at: null }]);
    worker = await startWorker({ vars: { BIGQUERY_API_BASE: emulator.url, SYNC_QUERY: table.query, STATUS_TOKEN } });
    const { body } = await worker.syncNow();
    runId = body.run.id;
  });
  after(async () => worker?.dispose());

  test("a key kv-sync wrote: when, by which run, and that KV holds it", async () => {
    const { status, body } = await explain("lead:é/1");
    assert.equal(status, 200, JSON.stringify(body));
    assert.deepEqual(
      [body.key, body.kv_key, body.known, body.state, body.written_by, body.run, body.sync],
      ["lead:é/1", "lead:é/1", true, "written", "run", runId, "default"],
    );
    assert.match(body.updated_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.ok(body.last_written_at);
    assert.deepEqual(body.kv, { present: true, matches: true });
    assert.deepEqual(await worker.kv.get("lead:é/1", "json"), valueOf(rows(["a", "b", "c", "lead:é/1"])[3]));
  });

  test("a value changed behind kv-sync's back, and one deleted behind it, do not match", async () => {
    await worker.kv.put("b", JSON.stringify({ name: "Mallory", visits: 9 }));
    await worker.kv.delete("c");
    const tampered = (await explain("b")).body;
    assert.deepEqual([tampered.state, tampered.kv], ["written", { present: true, matches: false }]);
    const deleted = (await explain("c")).body;
    assert.deepEqual([deleted.state, deleted.kv], ["written", { present: false, matches: false }]);
  });

  test("a quarantined key says why; an unknown one is 200 and unknown; an over-long one is 400", async () => {
    const failed = (await explain("q")).body;
    assert.equal(failed.state, "failed");
    assert.match(failed.failed_reason, /updated_at is null/);
    const unknown = await explain("never-seen");
    assert.equal(unknown.status, 200);
    assert.deepEqual([unknown.body.known, unknown.body.state, unknown.body.kv.present], [false, "unknown", false]);
    const long = await explain("k".repeat(513));
    assert.equal(long.status, 400);
    assert.match(long.body.error, /512/);
  });

  test("the read-only token may ask; no bearer is 401", async () => {
    assert.equal((await explain("a", STATUS_TOKEN)).status, 200);
    const refused = await explain("a", null);
    assert.equal(refused.status, 401);
    assert.equal((await worker.call("/keys/a", { method: "POST", headers: { authorization: `Bearer ${SECRET}` } })).status, 405);
  });
});
