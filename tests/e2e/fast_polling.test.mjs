// Fast polling end to end (SPEC "Live sync"): 10 s is the least interval,
// an insert reaches KV within one, and idle polls repeat their query to the
// letter, so BigQuery can answer from its cache.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startEmulator, startWorker, waitFor } from "./support/stack.mjs";
import { startBigQueryProxy } from "./support/bigquery_proxy.mjs";
import { at, sourceTable, valueOf } from "./support/table.mjs";
import { push, startOidc } from "./support/oidc.mjs";
import { expectRefused, message, pull, snapshot } from "./support/push_checks.mjs";

let emulator;
before(async () => {
  emulator = await startEmulator();
});
after(async () => emulator?.stop());

describe("fast polling", () => {
  test("SYNC_INTERVAL_SECONDS = 10: a row inserted after a run is in KV within the next interval; without PUSH_AUDIENCE there is no /push", { timeout: 90_000 }, async () => {
    const oidc = await startOidc();
    const table = await sourceTable(emulator.url);
    await table.insert([{ key: "poll-seed", updated_at: at(-60), name: "Seed", visits: 1 }]);
    const worker = await startWorker({ vars: { BIGQUERY_API_BASE: emulator.url, SYNC_QUERY: table.query, SYNC_INTERVAL_SECONDS: "10" } });
    try {
      await pull(worker);
      const { body: status } = await worker.status();
      assert.equal(status.config_error ?? null, null);
      assert.equal(status.interval_seconds, 10);
      const counters = ["received", "written", "deleted", "unchanged", "stale", "failed", "last_at"];
      assert.deepEqual(Object.fromEntries(counters.map((n) => [n, status.push?.[n]])),
        { received: 0, written: 0, deleted: 0, unchanged: 0, stale: 0, failed: 0, last_at: null }, "/status has push, all zero");

      const stray = { key: "poll-pushed", updated_at: at(-5), name: "Pushed", visits: 1 };
      expectRefused(await push(worker, message(stray), oidc.mint()), 404, "/push without PUSH_AUDIENCE");
      assert.equal(await worker.kv.get("poll-pushed"), null);

      const row = { key: "poll-new", updated_at: at(-1), name: "Fresh", visits: 2 };
      await table.insert([row]);
      const inserted = Date.now();
      const value = await waitFor(async () => worker.kv.get("poll-new", "json"), {
        timeoutMs: 25_000, everyMs: 250, what: "the new row in KV within one 10 s interval and a margin" });
      assert.deepEqual(value, valueOf(row));
      assert.ok(Date.now() - inserted <= 25_000);
    } finally {
      await worker.dispose();
      await oidc.stop();
    }
  });

  test("SYNC_INTERVAL_SECONDS below 10 is a configuration error that names the variable and the least value", async () => {
    const table = await sourceTable(emulator.url);
    const worker = await startWorker({ vars: { BIGQUERY_API_BASE: emulator.url, SYNC_QUERY: table.query, SYNC_INTERVAL_SECONDS: "5" } });
    try {
      const { status, body } = await worker.syncNow();
      assert.equal(status, 502, JSON.stringify(body));
      assert.match(body.error, /SYNC_INTERVAL_SECONDS/);
      assert.match(body.error, /\b10\b/);
      const s = await worker.status();
      assert.equal(s.status, 200);
      assert.match(s.body.config_error ?? "", /SYNC_INTERVAL_SECONDS/);
      assert.match(s.body.config_error ?? "", /\b10\b/);
    } finally {
      await worker.dispose();
    }
  });

  test("idle polls send BigQuery the very same query and parameters, and let it answer from its cache", async () => {
    const proxy = await startBigQueryProxy(emulator.url);
    const table = await sourceTable(emulator.url);
    const rows = ["idle-a", "idle-b", "idle-c"].map((key, i) => ({ key, updated_at: at(-60 + i), name: key, visits: i }));
    await table.insert(rows);
    const worker = await startWorker({ vars: { BIGQUERY_API_BASE: proxy.url, SYNC_QUERY: table.query, SYNC_INTERVAL_SECONDS: "3600" } });
    try {
      assert.equal((await pull(worker)).rows_written, 3);
      const kv = await snapshot(worker.kv);
      const sent = [];
      for (let poll = 0; poll < 2; poll++) {
        const from = proxy.queries().length;
        const run = await pull(worker);
        assert.equal(run.rows_written, 0, `an idle poll writes nothing: ${JSON.stringify(run)}`);
        assert.equal(run.rows_deleted, 0);
        sent.push(proxy.queries().slice(from));
      }
      assert.deepEqual(await snapshot(worker.kv), kv, "KV untouched by idle polls");
      const [first, second] = sent;
      assert.ok(first.length >= 1, "the poll queried BigQuery");
      assert.equal(second.length, first.length);
      first.forEach((a, i) => {
        const b = second[i];
        assert.equal(b.query, a.query, "the same query text");
        assert.deepEqual(b.queryParameters, a.queryParameters, "the same parameters");
        assert.notEqual(a.useQueryCache, false, "the cache is allowed");
        assert.notEqual(b.useQueryCache, false, "the cache is allowed");
      });
    } finally {
      await worker.dispose();
      await proxy.stop();
    }
  });
});
