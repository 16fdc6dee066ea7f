// Issue #14 end to end: running kv-sync without watching it. Alerts reach a
// local receiver once per episode (and are retried when it is down), a dry
// run plans without writing, a changed SYNC_QUERY makes the next run full,
// a read-only token reads but never triggers, every response is hardened,
// and loose input is refused by name.
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:http";
import { after, before, describe, test } from "node:test";
import { allKeys, SECRET, startEmulator, startWorker, tempDir, waitFor } from "./support/stack.mjs";
import { at, sourceTable, valueOf } from "./support/table.mjs";

let emulator;
before(async () => {
  emulator = await startEmulator();
});
after(async () => emulator?.stop());

/** A local alert receiver; `failNext(n)` answers the next n posts with 500. */
async function startReceiver() {
  const received = [];
  let failures = 0;
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks).toString();
    if (failures > 0) {
      failures -= 1;
      res.writeHead(500).end("receiver down");
      return;
    }
    received.push({ path: req.url, contentType: req.headers["content-type"], body: JSON.parse(body), raw: body });
    res.writeHead(200, { "content-type": "text/plain" }).end("ok");
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    // A path standing in for a Slack webhook's secret part.
    url: `http://127.0.0.1:${server.address().port}/services/T000/B000/hook-secret-xyz`,
    received,
    failNext: (n) => { failures = n; },
    stop: () => new Promise((r) => server.close(r)),
  };
}

describe("alerts", () => {
  test("two failed runs raise one `failing`, delivered once the receiver is back; fixing the source raises one `recovered`", { timeout: 200_000 }, async () => {
    const receiver = await startReceiver();
    const table = await sourceTable(emulator.url);
    const broken = `SELECT key, updated_at, name, visits FROM ${table.name} WHERE missing_column > 0`;
    const state = tempDir();
    const vars = { BIGQUERY_API_BASE: emulator.url, ALERT_WEBHOOK_URL: receiver.url, ALERT_AFTER_FAILURES: "2", SYNC_INTERVAL_SECONDS: "10" };
    let worker = await startWorker({ persistDir: state.dir, vars: { ...vars, SYNC_QUERY: broken } });
    try {
      receiver.failNext(1); // the first delivery finds the receiver down
      assert.equal((await worker.syncNow()).status, 502);
      assert.equal(receiver.received.length, 0, "one failure is not an episode yet");
      assert.equal((await worker.syncNow()).status, 502);
      const [failing] = await waitFor(() => receiver.received.length && receiver.received, { timeoutMs: 30_000, what: "the failing alert, retried" });
      assert.equal(failing.body.kv_sync.event, "failing");
      assert.equal(failing.body.kv_sync.sync, "default");
      assert.equal(failing.body.kv_sync.error, "invalidQuery");
      assert.match(failing.body.text, /failing: \d+ runs in a row failed/);
      assert.equal(failing.contentType, "application/json");
      for (const leak of [SECRET, "hook-secret-xyz", "missing_column"]) assert.ok(!failing.raw.includes(leak), `no ${leak} in an alert`);
      // More failures: the same episode, no new message.
      await waitFor(async () => (await worker.status()).body.consecutive_failures >= 4, { timeoutMs: 60_000, what: "more failed runs" });
      assert.equal(receiver.received.length, 1, "once per episode");
      const { body: status } = await worker.status();
      assert.equal(status.alerts.configured, true);
      assert.equal(status.alerts.failing, true);
      await worker.dispose();

      // The source is fixed (a new SYNC_QUERY, same state): the next run completes.
      await table.insert([{ key: "a", updated_at: at(-5), visits: 1 }]);
      worker = await startWorker({ persistDir: state.dir, vars: { ...vars, SYNC_QUERY: table.query } });
      await waitFor(async () => receiver.received.length >= 2, { timeoutMs: 45_000, what: "the recovered alert" });
      assert.deepEqual(receiver.received.map((r) => r.body.kv_sync.event), ["failing", "recovered"]);
      assert.match(receiver.received[1].body.text, /recovered: run \d+ completed; KV matches BigQuery as of/);
      assert.ok(!JSON.stringify(receiver.received).includes(SECRET));
    } finally {
      await worker.dispose();
      await receiver.stop();
      state.remove();
    }
  });
});

describe("a dry run plans without writing", () => {
  test("20 new rows: it reports 20 and writes none; after 3 changes it reports 3 and the old values stay", { timeout: 60_000 }, async () => {
    const table = await sourceTable(emulator.url);
    const rows = Array.from({ length: 20 }, (_, i) => ({ key: `d-${i}`, updated_at: at(-60), name: "Ada", visits: i }));
    await table.insert(rows);
    const worker = await startWorker({ vars: { BIGQUERY_API_BASE: emulator.url, SYNC_QUERY: table.query } });
    try {
      const dry = await worker.syncNow("?dry_run=true");
      assert.equal(dry.status, 200, JSON.stringify(dry.body));
      assert.equal(dry.body.dry_run, true);
      assert.equal(dry.body.complete, true);
      assert.deepEqual([dry.body.plan.would_write, dry.body.plan.would_delete, dry.body.plan.would_fail], [20, 0, 0]);
      assert.equal(dry.body.plan.sample.length, 10);
      assert.deepEqual(dry.body.plan.sample[0].value, valueOf(rows.find((r) => r.key === dry.body.plan.sample[0].key)));
      assert.equal((await allKeys(worker.kv)).length, 0, "nothing was written");
      const { body: idle } = await worker.status();
      assert.equal(idle.cursor.updated_at, null, "no cursor moved");
      assert.equal(idle.recent_runs.length, 0, "no run was recorded");

      assert.equal((await worker.syncNow()).status, 200);
      await table.insert(rows.slice(0, 3).map((r) => ({ ...r, updated_at: at(-1), name: "Grace" })));
      const second = await worker.syncNow("?dry_run=1");
      assert.equal(second.body.plan.would_write, 3);
      assert.deepEqual(second.body.plan.sample.map((s) => s.key).sort(), ["d-0", "d-1", "d-2"]);
      assert.deepEqual(await worker.kv.get("d-0", "json"), { name: "Ada", visits: 0 }, "the old value stays");
    } finally {
      await worker.dispose();
    }
  });
});

test("a restart with a SYNC_QUERY that selects rows older than the cursor makes the next run full, and they reach KV", { timeout: 60_000 }, async () => {
  const table = await sourceTable(emulator.url);
  await table.insert([
    ...Array.from({ length: 5 }, (_, i) => ({ key: `new-${i}`, updated_at: at(-30), visits: 1 })),
    ...Array.from({ length: 5 }, (_, i) => ({ key: `old-${i}`, updated_at: "2020-01-01T00:00:00Z", visits: 500 })),
  ]);
  const state = tempDir();
  const vars = { BIGQUERY_API_BASE: emulator.url };
  let worker = await startWorker({ persistDir: state.dir, vars: { ...vars, SYNC_QUERY: `${table.query} WHERE visits < 100` } });
  try {
    assert.equal((await worker.syncNow()).status, 200);
    assert.equal((await worker.syncNow()).body.run.full, false, "a second run is incremental");
    assert.equal((await allKeys(worker.kv)).length, 5);
    await worker.dispose();
    worker = await startWorker({ persistDir: state.dir, vars: { ...vars, SYNC_QUERY: table.query } });
    const { body: before } = await worker.status();
    assert.match(before.next_run_full_reason, /SYNC_QUERY changed/);
    const { body } = await worker.syncNow();
    assert.equal(body.run.full, true);
    assert.match(body.run.reason, /SYNC_QUERY changed/);
    assert.equal((await allKeys(worker.kv)).length, 10, "the older rows reached KV");
    assert.equal((await worker.syncNow()).body.run.full, false, "then incremental again");
  } finally {
    await worker.dispose();
    state.remove();
  }
});

describe("access, headers and input", () => {
  let worker;
  let table;
  before(async () => {
    table = await sourceTable(emulator.url);
    await table.insert([{ key: "h-1", updated_at: at(-10), visits: 1 }]);
    worker = await startWorker({ vars: { BIGQUERY_API_BASE: emulator.url, SYNC_QUERY: table.query, STATUS_TOKEN: "viewer-token" } });
  });
  after(async () => worker?.dispose());

  test("the read-only token reads /status (marked read-only) and may not trigger", async () => {
    const r = await worker.call("/status", { headers: { authorization: "Bearer viewer-token" } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("x-kv-sync-access"), "read-only");
    const t = await worker.call("/sync-kv-now", { method: "POST", headers: { authorization: "Bearer viewer-token" } });
    assert.equal(t.status, 403);
    assert.match((await t.json()).error, /may only read/);
    const full = await worker.call("/status", { headers: { authorization: `Bearer ${SECRET}` } });
    assert.equal(full.headers.get("x-kv-sync-access"), null);
  });

  test("every response is nosniff, JSON is no-store, the dashboard allows nothing from elsewhere", async () => {
    const bearer = { authorization: `Bearer ${SECRET}` };
    for (const [path, init] of [["/status", { headers: bearer }], ["/nope", {}], ["/status", {}], ["/sync-kv-now", { method: "GET" }]]) {
      const r = await worker.call(path, init);
      assert.equal(r.headers.get("x-content-type-options"), "nosniff", path);
      assert.equal(r.headers.get("cache-control"), "no-store", `${path} ${r.status}`);
      assert.match(r.headers.get("content-type"), /application\/json/);
    }
    const page = await worker.call("/dashboard");
    const csp = page.headers.get("content-security-policy");
    assert.match(csp, /^default-src 'none';/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe|\*|https?:/);
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)[1];
    const html = await page.text();
    assert.ok(html.includes(`<script nonce="${nonce}">`), "the page's script carries the nonce");
    assert.ok(!html.includes("{{CSP_NONCE}}"));
    assert.equal(page.headers.get("x-content-type-options"), "nosniff");
    assert.equal(page.headers.get("referrer-policy"), "no-referrer");
    const again = (await worker.call("/dashboard")).headers.get("content-security-policy");
    assert.notEqual(again, csp, "a new nonce every time");
  });

  test("flags take true|false|1|0 in any case; anything else is 400 naming it", async () => {
    const bad = await worker.syncNow("?full=maybe");
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /`full`/);
    const dry = await worker.syncNow("?dry_run=yes");
    assert.equal(dry.status, 400);
    assert.match(dry.body.error, /`dry_run`/);
    const { status, body } = await worker.syncNow("?full=1");
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.run.full, true);
    assert.equal(body.run.trigger, "full");
    assert.equal((await worker.syncNow("?FULL=maybe&wait=TRUE")).status, 200, "only known names are read");
  });

  test("a body over 16 KiB is refused without a Content-Length too (a chunked body)", async () => {
    const bearer = { authorization: `Bearer ${SECRET}` };
    const chunk = new TextEncoder().encode("x".repeat(4096));
    const chunked = (n) => {
      let sent = 0;
      return new ReadableStream({
        pull(controller) {
          if (sent === n) return controller.close();
          sent += 1;
          controller.enqueue(chunk);
        },
      });
    };
    const over = await worker.call("/sync-kv-now?dry_run=true", { method: "POST", headers: bearer, body: chunked(5), duplex: "half" });
    assert.equal(over.status, 413);
    assert.equal(over.headers.get("content-length") === null || Number(over.headers.get("content-length")) > 0, true);
    const under = await worker.call("/sync-kv-now?dry_run=true", { method: "POST", headers: bearer, body: chunked(3), duplex: "half" });
    assert.equal(under.status, 200, "12 KiB in chunks is fine");
  });

  test("/status says how fresh KV is, and when the next sync is", async () => {
    const { body } = await worker.status();
    assert.ok(body.last_success_at, "a run completed");
    assert.ok(Date.parse(body.last_success_at) <= Date.now());
    assert.equal(typeof body.staleness_seconds, "number");
    assert.ok(Date.parse(body.next_sync_at) > Date.now(), "the next sync is scheduled");
    assert.equal(body.alerts.configured, false);
  });
});
