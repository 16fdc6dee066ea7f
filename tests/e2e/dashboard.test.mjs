// Issue #7 end to end: GET /dashboard in headless Chromium against the Worker
// in workerd. During a multi-invocation import the progress bar moves, the
// run completes and the history shows it; a /status outage shows a banner and
// the page recovers; a wrong token gets a clear 401 and the page asks again;
// a failing sync and quarantined rows are explained in words. Screenshots of
// each state (desktop and 390 px wide) go to test-output/.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { seed, SECRET, sleep, startEmulator, startWorker, tempDir } from "./support/stack.mjs";
import { DESKTOP, launchBrowser, openDashboard, PHONE, screenshot } from "./support/browser.mjs";

const LEADS = 6_000;
// Small enough that the run spans several of the page's 2 s polls even on a
// fast machine (at 300 a run of 20 invocations could end within two polls).
const WRITES_PER_INVOCATION = 150;

/** What the page shows right now, read from its data-testid elements. */
function readPage(page) {
  return page.evaluate(() => {
    const q = (id) => document.querySelector(`[data-testid="${id}"]`);
    const bar = q("progress");
    return {
      state: q("state")?.dataset.state ?? null,
      stateText: q("state")?.textContent.trim() ?? "",
      value: Number(bar?.getAttribute("aria-valuenow") ?? NaN),
      max: bar?.getAttribute("aria-valuemax") ?? null,
      runStatus: q("current-run")?.querySelector('[data-testid="run-status"]')?.dataset.status ?? null,
      banner: q("error-banner")?.hidden === false ? q("error-banner").textContent.replace(/\s+/g, " ").trim() : null,
    };
  });
}

async function waitForPage(page, predicate, what, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await readPage(page);
    if (predicate(last)) return last;
    await sleep(150);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for the page to show ${what}; it shows ${JSON.stringify(last)}`);
}

/** Fails if the page is wider than the phone's screen (it would scroll sideways or zoom out). */
async function assertFitsPhone(page) {
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= PHONE.viewport.width, `the page is ${width} px wide on a ${PHONE.viewport.width} px phone`);
}

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
    const row = page.locator(`[data-testid="history-row"][data-run-id="${run.id}"]`);
    assert.equal(await row.getAttribute("data-status"), "completed");
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
  const state = tempDir();
  // Every lead ending in 7 has no key and every lead ending in 3 a key over
  // 512 bytes: those rows are quarantined with their reasons.
  const SYNC_QUERY = `SELECT CASE WHEN trackingId LIKE '%7' THEN NULL
      WHEN trackingId LIKE '%3' THEN CONCAT(trackingId, '-', REPEAT('x', 520)) ELSE trackingId END AS key,
    updated_at, email, company_name FROM outbound_sales.leads`;
  before(async () => {
    emulator = await startEmulator();
    await seed(emulator.url, ["--reset", "--leads", "200", "--events-per-lead", "1", "--seed", "5"]);
  });
  after(async () => {
    await emulator?.stop();
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
      assert.ok(reasons.some((r) => /lead-\d+3-x+…\s*key is 532 bytes; Workers KV allows at most 512/.test(r)), reasons.join("\n"));
      await context.close();
    } finally {
      await worker.dispose();
    }

    // The same coordinator state, now with a query BigQuery rejects (it fails
    // at once; an unreachable BigQuery would first be retried for seconds).
    worker = await startWorker({
      listen: true, persistDir: state.dir,
      vars: { BIGQUERY_API_BASE: emulator.url, SYNC_QUERY: "SELECT nope FROM outbound_sales.leads" },
    });
    try {
      const desktop = await openDashboard(browser, worker.url, SECRET);
      const phone = await openDashboard(browser, worker.url, SECRET, PHONE);
      await waitForPage(desktop.page, (s) => s.state === "idle", "the idle state");
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
      await screenshot(page, "dashboard-failing-desktop");
      await screenshot(phone.page, "dashboard-failing-phone");
      await assertFitsPhone(phone.page);
      assert.deepEqual([...desktop.problems, ...phone.problems], []);
      await desktop.context.close();
      await phone.context.close();
    } finally {
      await worker.dispose();
    }
  });
});
