// Issue #7 end to end: GET /dashboard in headless Chromium against the Worker
// in workerd. During a multi-invocation import the progress bar moves, the
// run completes and the history shows it; a /status outage shows a banner and
// the page recovers; a wrong token gets a clear 401 and the page asks again;
// a failing sync and quarantined rows are explained in words. Screenshots of
// each state (desktop and 390 px wide) go to test-output/.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { seed, SECRET, sleep, startEmulator, startWorker, tempDir } from "./support/stack.mjs";
import { DESKTOP, launchBrowser, PHONE, screenshot } from "./support/browser.mjs";
import {
  readPage, waitForPage, openDashboard, assertNoCspViolations, assertDashboardPolicy, localMinute, text, startAlertReceiver, waitForStatus, assertFitsPhone,
} from "./support/dashboard_page.mjs";

const LEADS = 6_000;
// Small enough that the run spans several of the page's 2 s polls even on a
// fast machine (at 300 a run of 20 invocations could end within two polls).
const WRITES_PER_INVOCATION = 150;

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

describe("the dashboard during a multi-invocation import", () => {
  let emulator;
  let worker;
  let desktop;
  let phone;
  before(async () => {
    emulator = await startEmulator();
    await seed(emulator.url, ["--reset", "--leads", String(LEADS), "--events-per-lead", "1", "--seed", "9"]);
    worker = await startWorker({
      listen: true,
      vars: { BIGQUERY_API_BASE: emulator.url, MAX_KV_WRITES_PER_INVOCATION: String(WRITES_PER_INVOCATION) },
    });
  });
  after(async () => {
    await desktop?.context.close();
    await phone?.context.close();
    await worker?.dispose();
    await emulator?.stop();
  });

  test("the progress bar moves while the run works, then the completed run is in the history", { timeout: 240_000 }, async () => {
    desktop = await openDashboard(browser, worker.url, SECRET, DESKTOP);
    phone = await openDashboard(browser, worker.url, SECRET, PHONE);
    for (const { page } of [desktop, phone]) await waitForPage(page, (s) => s.state === "idle", "the idle state");
    const { page } = desktop;
    assert.match(await page.getByTestId("lag").textContent(), /Nothing synced yet/);
    // Before any sync, "Nothing synced yet" is the headline; the first run will read everything, and says why.
    assert.equal(await text(page.getByTestId("lag")), "Nothing synced yet");
    assert.ok(await page.getByTestId("lag").isVisible(), "the headline is on screen");
    assert.equal(await page.getByTestId("freshness").isVisible(), false, "no time KV matched BigQuery yet");
    const { body: fresh } = await worker.status();
    assert.equal(fresh.last_success_at, null);
    assert.equal(typeof fresh.next_run_full_reason, "string", "the first run reads the whole source, and /status says why");
    await page.getByTestId("next-full-reason").filter({ hasText: fresh.next_run_full_reason }).waitFor();
    // Alerts are not configured here (no ALERT_WEBHOOK_URL), and the page says so with the thresholds.
    assert.equal(fresh.alerts.configured, false);
    assert.match(await text(page.getByTestId("alerts-state")), /^Not configured$/);
    const alertsText = await text(page.getByTestId("alerts-config"));
    assert.match(alertsText, /ALERT_WEBHOOK_URL/);
    assert.ok(alertsText.includes(`after ${fresh.alerts.after_failures} failed run`), alertsText);
    assert.equal(await page.getByTestId("alert-episodes").isVisible(), false);

    await page.getByTestId("sync-now").click();
    await page.getByTestId("action-message").filter({ hasText: /Sync started: run #\d+/ }).waitFor();

    const samples = [];
    let shot = false;
    const deadline = Date.now() + 180_000;
    for (;;) {
      assert.ok(Date.now() < deadline, `the run did not finish on the page: ${JSON.stringify(samples.slice(-3))}`);
      const s = await readPage(page);
      samples.push(s);
      if (!shot && s.state === "running" && s.value >= LEADS * 0.1 && s.value <= LEADS * 0.8) {
        await waitForPage(phone.page, (p) => p.state === "running" && p.value > 0, "the running state on the phone");
        await screenshot(page, "dashboard-running-desktop");
        await screenshot(phone.page, "dashboard-running-phone");
        await assertFitsPhone(phone.page);
        shot = true;
      }
      if (s.state === "idle" && s.runStatus === "completed" && samples.some((x) => x.state === "running")) break;
      await sleep(150);
    }

    const running = samples.filter((s) => s.state === "running" && s.runStatus === "running").map((s) => s.value);
    const shown = running.filter((v, i) => i === 0 || v !== running[i - 1]);
    assert.deepEqual(shown, [...shown].sort((a, b) => a - b), `the bar never went backward: ${shown}`);
    const increases = shown.filter((v, i) => i > 0 && v > shown[i - 1]).length;
    assert.ok(increases >= 2, `the bar moved ${increases} times while running (values ${shown})`);
    assert.ok(samples.some((s) => s.max === String(LEADS)), "the bar's maximum is the run's total rows");
    assert.ok(shot, "a screenshot of the running state was taken");

    // The API agrees that this was one run over many invocations.
    const { body } = await worker.status();
    const run = body.last_run;
    assert.equal(run.status, "completed");
    assert.ok(run.invocations >= LEADS / WRITES_PER_INVOCATION, `${run.invocations} invocations`);

    const final = await readPage(page);
    assert.equal(final.stateText, "Idle");
    assert.equal(final.value, LEADS);
    assert.equal(await page.getByTestId("stat-written").textContent(), "6,000");
    assert.match(await page.getByTestId("lag").textContent(), /^KV is (at most .+|less than a minute) behind BigQuery$/);
    await page.getByTestId("next-sync").filter({ hasText: /^\d+:\d\d$/ }).waitFor();
    // The headline in the new terms: since when KV matches BigQuery, and when the next sync is, in local time.
    assert.equal(typeof body.last_success_at, "string");
    assert.equal(typeof body.next_sync_at, "string");
    const headline = await text(page.getByTestId("freshness"));
    assert.match(headline, /^KV matches BigQuery as of .+, next sync .+$/);
    assert.ok(headline.includes(`as of ${await localMinute(page, body.last_success_at)}`), `${headline} (last_success_at ${body.last_success_at})`);
    assert.ok(headline.includes(`next sync ${await localMinute(page, body.next_sync_at)}`), `${headline} (next_sync_at ${body.next_sync_at})`);
    // The first run read the whole source: the run card and the history say so, and why.
    assert.equal(run.full, true, "the first run is a full read");
    assert.equal(typeof run.reason, "string");
    assert.ok(await page.getByTestId("run-full").isVisible(), "the run is marked as a full read");
    assert.ok((await text(page.getByTestId("run-full-reason"))).includes(run.reason), "the run card says why it read everything");
    assert.equal(await page.getByTestId("next-full-reason").isVisible(), body.next_run_full_reason !== null);
    const row = page.locator(`[data-testid="history-row"][data-run-id="${run.id}"]`);
    assert.equal(await row.getAttribute("data-status"), "completed");
    assert.equal(await row.getAttribute("data-full"), "true");
    assert.ok((await page.getByTestId("history-reason").allTextContents()).some((t) => t.includes(run.reason)), "the history says why it read everything");
    const rowText = (await row.textContent()).replace(/\s+/g, " ");
    assert.match(rowText, /Completed/);
    assert.match(rowText, /6,000 of 6,000/);
    assert.match(rowText, new RegExp(`\\b${run.invocations}\\b`));
    assert.equal(await page.locator("[data-testid=chart-rows] rect.b-ok").count(), 1, "the chart has a bar for the run");

    await waitForPage(phone.page, (p) => p.state === "idle" && p.runStatus === "completed", "the completed run on the phone");
    await screenshot(page, "dashboard-idle-desktop");
    await screenshot(phone.page, "dashboard-idle-phone");
    await assertFitsPhone(phone.page);
    assert.deepEqual([...desktop.problems, ...phone.problems], []);
    // One sync: no overview, no sync name; the full token keeps its buttons.
    assert.equal(await page.getByTestId("syncs").isVisible(), false);
    assert.equal(await page.getByTestId("detail-title").isVisible(), false);
    assert.equal(await page.getByTestId("read-only").isVisible(), false);
    await assertDashboardPolicy(worker.url);
    await assertNoCspViolations(desktop, "the desktop page");
    await assertNoCspViolations(phone, "the phone page");
  });

  test("a /status outage shows an error banner, keeps polling, and recovers", { timeout: 60_000 }, async () => {
    const { page } = desktop;
    let calls = 0;
    await page.route("**/status", (route) => {
      calls++;
      return route.fulfill({ status: 500, contentType: "application/json", body: JSON.stringify({ success: false, error: "coordinator unavailable" }) });
    });
    const down = await waitForPage(page, (s) => s.banner, "an error banner");
    assert.match(down.banner, /HTTP 500: coordinator unavailable/);
    assert.equal(down.state, "idle", "the last known status stays on screen");
    const seen = calls;
    await waitForPage(page, () => calls > seen, "another poll during the outage", 15_000);
    assert.ok((await readPage(page)).banner, "the banner stays while /status fails");
    await page.unroute("**/status");
    await waitForPage(page, (s) => !s.banner && s.state === "idle", "the banner to clear", 15_000);
  });

  test("a wrong token: the 401 is shown clearly and the token is asked for again", { timeout: 60_000 }, async () => {
    const { context, page } = await openDashboard(browser, worker.url, "not-the-secret", DESKTOP);
    try {
      const error = page.getByTestId("auth-error");
      await error.waitFor({ state: "visible" });
      assert.match(await error.textContent(), /token was rejected \(401 Unauthorized\)/);
      assert.ok(await page.getByTestId("token-form").isVisible(), "the token form is shown again");
      assert.equal(await page.getByTestId("token-input").inputValue(), "");
      assert.ok(await page.getByTestId("token-input").evaluate((e) => e === document.activeElement), "the token field has focus");
      assert.equal(await page.evaluate(() => sessionStorage.getItem("kv-sync.token")), null, "the wrong token is forgotten");
      assert.equal(await page.getByTestId("state").isVisible(), false, "no dashboard behind a rejected token");
      await screenshot(page, "dashboard-401-desktop");

      await page.getByTestId("token-input").fill(SECRET);
      await page.getByTestId("token-submit").click();
      await waitForPage(page, (s) => s.state === "idle", "the dashboard after the right token");
      assert.equal(await error.isVisible(), false);
    } finally {
      await context.close();
    }
  });
});

describe("the dashboard explains quarantined rows and a failing sync", () => {
  let emulator;
  let alerts;
  const state = tempDir();
  // Every lead ending in 7 has no key and every lead ending in 3 a key over
  // 512 bytes: those rows are quarantined with their reasons.
  const SYNC_QUERY = `SELECT CASE WHEN trackingId LIKE '%7' THEN NULL
      WHEN trackingId LIKE '%3' THEN CONCAT(trackingId, '-', REPEAT('x', 520)) ELSE trackingId END AS key,
    updated_at, email, company_name FROM outbound_sales.leads`;
  before(async () => {
    emulator = await startEmulator();
    await seed(emulator.url, ["--reset", "--leads", "200", "--events-per-lead", "1", "--seed", "5"]);
    alerts = await startAlertReceiver();
  });
  after(async () => {
    await emulator?.stop();
    await alerts?.close();
    state.remove();
  });

  test("failed rows with their reasons, then a rejected query: failing, in plain words", { timeout: 120_000 }, async () => {
    let worker = await startWorker({ listen: true, persistDir: state.dir, vars: { BIGQUERY_API_BASE: emulator.url, SYNC_QUERY } });
    try {
      const { context, page } = await openDashboard(browser, worker.url, SECRET);
      await waitForPage(page, (s) => s.state === "idle", "the idle state");
      await page.getByTestId("sync-now").click();
      await waitForPage(page, (s) => s.state === "idle" && s.runStatus === "completed", "the completed run");
      const { body } = await worker.status();
      assert.equal(body.last_run.rows_failed, 40);
      assert.equal(await page.getByTestId("stat-failed").textContent(), "40");
      const { count, recent } = body.failed_rows;
      // Each bad row is one entry, rows without a key included.
      assert.equal(count, 40);
      assert.ok(recent.length > 0);
      assert.equal(await page.getByTestId("failed-count").textContent(),
        `${count} quarantined in total${recent.length < count ? `, latest ${recent.length} shown` : ""}`);
      assert.equal(await page.getByTestId("failed-row").count(), Math.min(8, recent.length), "a short list first");
      if (recent.length > 8) await page.getByTestId("failed-more").click();
      const reasons = await page.getByTestId("failed-row").allTextContents();
      assert.equal(reasons.length, recent.length);
      assert.ok(reasons.some((r) => /\(no key\)\s*key is null or empty/.test(r)), reasons.join("\n"));
      // An over-long key is shown shortened, with its digest: two such keys are two rows.
      assert.ok(reasons.some((r) => /lead-\d+3-x+… #[0-9a-f]{16}\s*key is 532 bytes; Workers KV allows at most 512/.test(r)), reasons.join("\n"));
      await context.close();
    } finally {
      await worker.dispose();
    }

    // The same coordinator state, now with a query BigQuery rejects (it fails
    // at once; an unreachable BigQuery would first be retried for seconds).
    worker = await startWorker({
      listen: true, persistDir: state.dir,
      vars: {
        BIGQUERY_API_BASE: emulator.url, SYNC_QUERY: "SELECT nope FROM outbound_sales.leads",
        ALERT_WEBHOOK_URL: alerts.url, ALERT_AFTER_FAILURES: "1",
      },
    });
    try {
      const desktop = await openDashboard(browser, worker.url, SECRET);
      const phone = await openDashboard(browser, worker.url, SECRET, PHONE);
      await waitForPage(desktop.page, (s) => s.state === "idle", "the idle state");
      // A new SYNC_QUERY makes the next run a full one; the page says why before it starts.
      const { body: before } = await worker.status();
      assert.equal(typeof before.next_run_full_reason, "string", "a changed query makes the next run full");
      await desktop.page.getByTestId("next-full-reason").filter({ hasText: before.next_run_full_reason }).waitFor();
      assert.equal(before.alerts.configured, true);
      assert.match(await text(desktop.page.getByTestId("alerts-state")), /^On\b/);
      assert.ok((await text(desktop.page.getByTestId("alerts-config"))).includes("after 1 failed run in a row"));
      await desktop.page.getByTestId("sync-now").click();
      for (const { page } of [desktop, phone]) {
        await waitForPage(page, (s) => s.state === "failing" && s.runStatus === "failed", "the failing state", 30_000);
      }
      const page = desktop.page;
      assert.equal((await readPage(page)).stateText, "Failing");
      const box = page.getByTestId("last-error");
      assert.match(await box.textContent(), /BigQuery rejected the sync query/);
      assert.match(await box.textContent(), /invalidQuery: BigQuery: .*nope/);
      assert.match(await page.getByTestId("consecutive-failures").textContent(), /^1 run in a row failed/);
      const failedRow = page.locator('[data-testid="history-row"][data-status="failed"]');
      assert.equal(await failedRow.count(), 1);
      // The failed run was meant as the full read the query change asked for: when /status says so, so does the page.
      const { body: failing } = await worker.status();
      assert.equal(await page.getByTestId("run-full").isVisible(), failing.last_run.full);
      if (failing.last_run.full) {
        assert.ok((await text(page.getByTestId("run-full-reason"))).includes(failing.last_run.reason));
        assert.ok((await page.getByTestId("history-reason").allTextContents()).some((t) => t.includes(failing.last_run.reason)));
      }
      // One failed run is enough here for a "failing" alert episode: the page shows it.
      const alerted = await waitForStatus(worker, (b) => b.alerts.failing, "the failing alert");
      const episodes = page.getByTestId("alert-episode");
      await episodes.filter({ hasText: /^Failing: alerted after 1 failed run in a row/ }).waitFor();
      assert.match(await text(page.getByTestId("alerts-state")), /alert in progress/);
      if (alerted.alerts.pending > 0) await episodes.filter({ hasText: /not delivered yet/ }).waitFor();
      await screenshot(page, "dashboard-failing-desktop");
      await screenshot(phone.page, "dashboard-failing-phone");
      await assertFitsPhone(phone.page);
      assert.deepEqual([...desktop.problems, ...phone.problems], []);
      await assertNoCspViolations(desktop, "the failing page");
      await assertNoCspViolations(phone, "the failing page on a phone");
      await desktop.context.close();
      await phone.context.close();
    } finally {
      await worker.dispose();
    }
  });
});
