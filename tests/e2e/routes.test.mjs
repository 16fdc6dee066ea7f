// Every route and status code of the contract (SPEC "Routes").
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { freePort, SECRET, startWorker, waitFor } from "./support/stack.mjs";

let worker;
before(async () => {
  worker = await startWorker({
    vars: { BIGQUERY_API_BASE: `http://127.0.0.1:${await freePort()}`, INVOCATION_BUDGET_MS: "1000" },
  });
});
after(async () => worker?.dispose());

const bearer = { authorization: `Bearer ${SECRET}` };

test("unknown paths are 404 JSON", async () => {
  for (const p of ["/", "/sync", "/status/x", "/sync-kv-now/extra"]) {
    const r = await worker.call(p, { headers: bearer });
    assert.equal(r.status, 404, p);
    assert.equal((await r.json()).success, false);
  }
});

test("wrong methods are 405 with Allow", async () => {
  // Allow lists every method that works (HEAD does wherever GET does).
  const cases = [["/sync-kv-now", "GET", "POST"], ["/sync-kv-now", "PUT", "POST"], ["/status", "POST", "GET, HEAD"],
    ["/status", "DELETE", "GET, HEAD"], ["/dashboard", "POST", "GET, HEAD"]];
  for (const [p, method, allow] of cases) {
    const r = await worker.call(p, { method, headers: bearer });
    assert.equal(r.status, 405, `${method} ${p}`);
    assert.equal(r.headers.get("allow"), allow);
  }
});

test("missing and wrong bearers are 401 with WWW-Authenticate, on both protected routes", async () => {
  for (const [p, method] of [["/sync-kv-now", "POST"], ["/status", "GET"]]) {
    for (const headers of [{}, { authorization: "Bearer wrong" }, { authorization: `Basic ${SECRET}` },
      { authorization: `Bearer ${SECRET}x` }]) {
      const r = await worker.call(p, { method, headers });
      assert.equal(r.status, 401, `${method} ${p} ${JSON.stringify(headers)}`);
      assert.equal(r.headers.get("www-authenticate"), "Bearer");
      const text = await r.text();
      assert.ok(!text.includes(SECRET), "the secret never appears in a response");
    }
  }
});

test("a body over 16 KiB is 413", async () => {
  const r = await worker.call("/sync-kv-now", { method: "POST", headers: bearer, body: "x".repeat(16 * 1024 + 1) });
  assert.equal(r.status, 413);
  const small = await worker.call("/sync-kv-now?wait=false", { method: "POST", headers: bearer, body: JSON.stringify({ source: "n8n" }) });
  assert.equal(small.status, 202);
});

test("?wait=false answers 202 at once and the run goes on through the alarm", async () => {
  // The 413 test's run may still be retrying the unreachable BigQuery.
  await waitFor(async () => (await worker.status()).body.state !== "running", { what: "the earlier run to end" });
  const before = (await worker.status()).body.totals.runs;
  const { status, body } = await worker.syncNow("?wait=false");
  assert.equal(status, 202);
  assert.equal(body.message, "KV sync started; continuing in background");
  assert.equal(body.run.status, "running");
  assert.equal(body.run.invocations, 0, "no work was done inside the request");
  assert.equal(typeof body.timestamp, "string");
  // BigQuery is unreachable in this file: the alarm runs it, and it fails.
  const s = await waitFor(async () => {
    const { body: st } = await worker.status();
    return st.last_run?.id === body.run.id && st;
  }, { timeoutMs: 20_000, what: "the background run" });
  assert.equal(s.last_run.status, "failed");
  assert.equal(s.totals.runs, before + 1);
});

test("GET /status has every field of the Status object", async () => {
  const { status, body } = await worker.status();
  assert.equal(status, 200);
  for (const field of ["state", "cursor", "lag_seconds", "interval_seconds", "next_alarm_at", "queued", "current_run",
    "last_run", "recent_runs", "failed_rows", "totals"]) {
    assert.ok(field in body, field);
  }
  assert.deepEqual(Object.keys(body.totals).sort(), ["rows_deleted", "rows_failed", "rows_unchanged", "rows_written", "runs"]);
  assert.deepEqual(Object.keys(body.failed_rows).sort(), ["count", "recent"]);
  const run = body.current_run ?? body.last_run;
  for (const field of ["id", "trigger", "status", "started_at", "finished_at", "invocations", "bigquery_jobs",
    "total_rows", "rows_read", "rows_written", "rows_deleted", "rows_unchanged", "rows_failed", "error"]) {
    assert.ok(field in run, `Run.${field}`);
  }
});

test("GET /dashboard is an HTML page that needs no token to load", async () => {
  const r = await worker.call("/dashboard");
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type"), /text\/html/);
  assert.match(await r.text(), /<html/i);
});
