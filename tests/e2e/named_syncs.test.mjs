// Issue #15 end to end: named syncs. A default sync into IDENTITY_STORE and
// a `companies` sync into its own namespace under the prefix `co:`, each
// with its own coordinator, cursor and history, triggered at the same
// moment, run in parallel and never touch each other's keys.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { allKeys, SECRET, startEmulator, startWorker, waitFor } from "./support/stack.mjs";
import { at, sourceTable, valueOf } from "./support/table.mjs";

let emulator;
before(async () => {
  emulator = await startEmulator();
});
after(async () => emulator?.stop());

async function table(prefix, n, secondsAgo) {
  const t = await sourceTable(emulator.url);
  const rows = Array.from({ length: n }, (_, i) => ({ key: `${prefix}-${String(i).padStart(5, "0")}`, updated_at: at(-secondsAgo), name: prefix, visits: i }));
  await t.insert(rows);
  return { ...t, rows };
}

async function syncToCompletion(worker, sync) {
  return waitFor(async () => {
    const { body } = await worker.status(`?sync=${sync}`);
    return body.last_run?.status === "completed" && body.state === "idle" && body;
  }, { timeoutMs: 180_000, everyMs: 250, what: `the ${sync} sync to complete` });
}

test("a default and a companies sync run in parallel into their own namespaces, each with its own cursor", { timeout: 300_000 }, async () => {
  const leads = await table("lead", 3_000, 120);
  const companies = await table("company", 2_000, 60);
  const syncs = [{ name: "companies", query: companies.query, kv_binding: "COMPANY_STORE", key_prefix: "co:", max_kv_writes_per_invocation: 500 }];
  const worker = await startWorker({
    kvNamespaces: ["COMPANY_STORE"],
    vars: { BIGQUERY_API_BASE: emulator.url, SYNC_QUERY: leads.query, MAX_KV_WRITES_PER_INVOCATION: "500", SYNCS: JSON.stringify(syncs) },
  });
  try {
    // Triggered at the same moment: neither queues behind the other.
    const [a, b] = await Promise.all([worker.syncNow("?wait=false"), worker.syncNow("?wait=false&sync=companies")]);
    assert.equal(a.status, 202, JSON.stringify(a.body));
    assert.equal(b.status, 202, JSON.stringify(b.body));
    assert.equal(a.body.queued, undefined, "the default sync started, not queued");
    assert.equal(b.body.queued, undefined, "the companies sync started, not queued");
    const [leadStatus, companyStatus] = await Promise.all([syncToCompletion(worker, "default"), syncToCompletion(worker, "companies")]);
    assert.equal(leadStatus.sync, "default");
    assert.equal(companyStatus.sync, "companies");
    assert.equal(leadStatus.last_run.rows_written, 3_000);
    assert.equal(companyStatus.last_run.rows_written, 2_000);
    assert.ok(leadStatus.last_run.invocations >= 6 && companyStatus.last_run.invocations >= 4, "both spanned invocations");
    // Each its own cursor.
    assert.ok(leadStatus.cursor.key.startsWith("lead-") && companyStatus.cursor.key.startsWith("company-"));
    assert.notEqual(leadStatus.cursor.updated_at, companyStatus.cursor.updated_at);
    // Every value correct, each in its own namespace.
    const identity = await allKeys(worker.kv);
    assert.equal(identity.length, 3_000);
    assert.ok(identity.every((k) => k.startsWith("lead-")), "IDENTITY_STORE holds only the default sync's keys");
    const companyKv = worker.namespaces.COMPANY_STORE;
    const companyKeys = await allKeys(companyKv);
    assert.equal(companyKeys.length, 2_000);
    assert.ok(companyKeys.every((k) => k.startsWith("co:company-")));
    for (const row of leads.rows.filter((_, i) => i % 97 === 0)) assert.deepEqual(await worker.kv.get(row.key, "json"), valueOf(row));
    for (const row of companies.rows.filter((_, i) => i % 97 === 0)) assert.deepEqual(await companyKv.get(`co:${row.key}`, "json"), valueOf(row));

    const list = await worker.call("/syncs", { headers: { authorization: `Bearer ${SECRET}` } });
    assert.equal(list.status, 200);
    const entries = await list.json();
    assert.deepEqual(entries.map((e) => e.name), ["default", "companies"]);
    for (const e of entries) {
      assert.equal(e.state, "idle");
      assert.ok(e.last_success_at && typeof e.staleness_seconds === "number" && typeof e.lag_seconds === "number", JSON.stringify(e));
    }
    const nope = await worker.call("/status?sync=nope", { headers: { authorization: `Bearer ${SECRET}` } });
    assert.equal(nope.status, 404);
    assert.match((await nope.json()).error, /no sync named "nope"; the syncs are default, companies/);
    assert.equal((await worker.syncNow("?sync=nope")).status, 404);
  } finally {
    await worker.dispose();
  }
});

test("a mistake in one SYNCS entry's settings is that sync's configuration error, naming the entry and the field", async () => {
  const worker = await startWorker({
    vars: { BIGQUERY_API_BASE: emulator.url, SYNCS: JSON.stringify([{ name: "ok", query: "SELECT 1" }, { name: "bad", query: "SELECT 1", interval_seconds: "5m" }]) },
  });
  const named = /SYNCS\[1\] \(bad\)\.interval_seconds = "5m"/;
  try {
    // A run of the sync with the mistake is refused, naming it,
    const run = await worker.syncNow("?sync=bad");
    assert.equal(run.status, 502);
    assert.match(run.body.error, named);
    // its /status and /syncs stay readable and say it,
    const status = await worker.status("?sync=bad");
    assert.equal(status.status, 200);
    assert.match(status.body.config_error, named);
    const r = await worker.call("/syncs", { headers: { authorization: `Bearer ${SECRET}` } });
    assert.equal(r.status, 200);
    const listed = await r.json();
    assert.deepEqual(listed.map((s) => s.name), ["default", "ok", "bad"]);
    assert.match(listed[2].error, named);
    // and the other syncs are not stopped by it.
    assert.equal(listed[0].error, null, JSON.stringify(listed[0]));
    assert.equal((await worker.status()).body.config_error, null);
  } finally {
    await worker.dispose();
  }
});

test("a SYNCS that cannot be routed (not JSON, a bad name) is a 500 naming the mistake", async () => {
  for (const [syncs, named] of [["[{", /SYNCS .*must be a JSON array/], [JSON.stringify([{ name: "Bad Name", query: "SELECT 1" }]), /SYNCS\[0\] \(Bad Name\)\.name/]]) {
    const worker = await startWorker({ vars: { BIGQUERY_API_BASE: emulator.url, SYNCS: syncs } });
    try {
      const r = await worker.call("/status", { headers: { authorization: `Bearer ${SECRET}` } });
      assert.equal(r.status, 500);
      assert.match((await r.json()).error, named);
    } finally {
      await worker.dispose();
    }
  }
});
