// Issues #14 and #15: the headline says since when KV matches BigQuery and
// when the next sync is; alerts say whether they are configured and what is
// in progress; a full run says why it reads everything; a read-only token
// sees no buttons; every sync is listed and each can be opened, on a phone
// too; and the page runs under its Content-Security-Policy without a single
// violation. A stand-in for the Worker (support/dashboard_mock.mjs) shows the
// states the real stack reaches only slowly.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { seed, SECRET, startEmulator, startWorker } from "./support/stack.mjs";
import { DESKTOP, launchBrowser, PHONE, screenshot } from "./support/browser.mjs";
import {
  FIRST_READ, MASS_DELETE, MOCK_SECRET, MOCK_STATUS_TOKEN, QUERY_CHANGED, startDashboardMock,
} from "./support/dashboard_mock.mjs";
import {
  readPage, waitForPage, openDashboard, assertNoCspViolations, assertDashboardPolicy, localMinute, text, getJson, startAlertReceiver, waitForStatus, assertFitsPhone,
} from "./support/dashboard_page.mjs";

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

describe("every sync at a glance, a read-only token and alerts, against the Worker", () => {
  const STATUS_TOKEN = "status-token-" + Math.random().toString(36).slice(2);
  const COMPANIES = "SELECT trackingId AS key, updated_at, company_name FROM outbound_sales.leads";
  let emulator;
  let alerts;
  let worker;
  before(async () => {
    emulator = await startEmulator();
    await seed(emulator.url, ["--reset", "--leads", "300", "--events-per-lead", "1", "--seed", "11"]);
    alerts = await startAlertReceiver();
    worker = await startWorker({
      listen: true,
      vars: {
        BIGQUERY_API_BASE: emulator.url,
        SYNCS: JSON.stringify([{ name: "companies", query: COMPANIES, key_prefix: "co:" }]),
        STATUS_TOKEN,
        ALERT_WEBHOOK_URL: alerts.url, ALERT_AFTER_FAILURES: "2", ALERT_STALENESS_SECONDS: "3600",
      },
    });
  });
  after(async () => {
    await worker?.dispose();
    await alerts?.close();
    await emulator?.stop();
  });

  test("both syncs are listed; one is opened, synced from its own buttons, and opened again on a phone", { timeout: 120_000 }, async () => {
    const synced = await worker.syncNow(); // the default sync, so that both rows have something to show
    assert.ok([200, 202].includes(synced.status), JSON.stringify(synced.body));
    await waitForStatus(worker, (b) => b.last_run?.status === "completed", "the default sync's first run", 60_000);
    const desktop = await openDashboard(browser, worker.url, SECRET);
    const phone = await openDashboard(browser, worker.url, SECRET, PHONE);
    try {
      const { page } = desktop;
      const { body: list } = await getJson(worker, "/syncs");
      assert.deepEqual(list.map((s) => s.name).sort(), ["companies", "default"]);
      for (const { page: p } of [desktop, phone]) {
        await p.getByTestId("sync-row").nth(1).waitFor();
        assert.deepEqual((await p.getByTestId("sync-row").evaluateAll((rows) => rows.map((r) => r.dataset.sync))).sort(), ["companies", "default"]);
      }
      // Each row: name, state, freshness, last run.
      const defaultRow = page.locator('[data-testid="sync-row"][data-sync="default"]');
      const companiesRow = page.locator('[data-testid="sync-row"][data-sync="companies"]');
      const defaultEntry = list.find((s) => s.name === "default");
      assert.equal(await defaultRow.locator("[data-state]").first().getAttribute("data-state"), defaultEntry.state);
      assert.ok((await text(defaultRow.getByTestId("sync-freshness"))).includes(await localMinute(page, defaultEntry.last_success_at)));
      assert.match(await text(defaultRow), new RegExp(`#${defaultEntry.last_run.id}\\b.*Completed`));
      assert.match(await text(companiesRow), /Nothing synced yet/);
      assert.equal(await defaultRow.getAttribute("aria-current"), "true", "the default sync is the one shown");
      assert.equal(await text(page.getByTestId("detail-title")), "Sync default");

      // Alerts are configured here, with these thresholds.
      assert.match(await text(page.getByTestId("alerts-state")), /^On\b/);
      const alertsText = await text(page.getByTestId("alerts-config"));
      assert.ok(alertsText.includes("after 2 failed runs in a row") && alertsText.includes("more than 1 h behind"), alertsText);

      // Open "companies": the detail is fed by /status?sync=companies, and its buttons post ?sync=companies.
      await companiesRow.getByTestId("sync-link").click();
      await page.getByTestId("detail-title").filter({ hasText: /^\s*Sync companies\s*$/ }).waitFor();
      await page.getByTestId("detail").waitFor({ state: "visible" });
      assert.equal(await companiesRow.getAttribute("aria-current"), "true");
      await waitForPage(page, (s) => s.state === "idle" && s.runStatus === null, "companies, which never ran");
      assert.equal(await text(page.getByTestId("lag")), "Nothing synced yet");
      const requests = [];
      page.on("request", (r) => { if (r.url().includes("/sync-kv-now")) requests.push(r.url()); });
      await page.getByTestId("sync-now").click();
      await page.getByTestId("action-message").filter({ hasText: /Sync started: run #\d+|Sync completed/ }).waitFor();
      assert.equal(new URL(requests[0]).searchParams.get("sync"), "companies", requests[0]);
      await waitForPage(page, (s) => s.state === "idle" && s.runStatus === "completed", "the completed run of companies");
      const { body: companies } = await getJson(worker, "/status?sync=companies");
      assert.equal(companies.last_run.status, "completed");
      assert.equal(companies.last_run.rows_written, 300);
      assert.equal(await page.getByTestId("stat-written").textContent(), "300");
      const { body: dflt } = await worker.status();
      assert.equal(dflt.totals.runs, 1, "the button did not start the default sync");
      await page.getByTestId("freshness").filter({ hasText: `KV matches BigQuery as of ${await localMinute(page, companies.last_success_at)}` }).waitFor();
      await companiesRow.getByTestId("sync-freshness").filter({ hasText: await localMinute(page, companies.last_success_at) }).waitFor();
      await page.mouse.move(0, 0);
      await screenshot(page, "dashboard-syncs-desktop");

      // On a phone: the list fits, and a tap on a row opens that sync.
      const phoneRow = (name) => phone.page.locator(`[data-testid="sync-row"][data-sync="${name}"]`);
      await phoneRow("companies").getByTestId("sync-freshness").tap();
      await phone.page.getByTestId("detail-title").filter({ hasText: /^\s*Sync companies\s*$/ }).waitFor();
      await phone.page.getByTestId("detail").waitFor({ state: "visible" });
      await waitForPage(phone.page, (s) => s.state === "idle" && s.runStatus === "completed", "companies on the phone");
      assert.equal(await phoneRow("companies").getAttribute("aria-current"), "true");
      await assertFitsPhone(phone.page);
      await screenshot(phone.page, "dashboard-syncs-phone");
      await phoneRow("default").getByTestId("sync-link").tap();
      await phone.page.getByTestId("detail-title").filter({ hasText: /^\s*Sync default\s*$/ }).waitFor();
      await phone.page.getByTestId("detail").waitFor({ state: "visible" });
      await waitForPage(phone.page, (s) => s.state === "idle" && s.runStatus === "completed", "default on the phone");
      assert.equal(await phone.page.getByTestId("stat-written").isVisible(), true);

      assert.deepEqual([...desktop.problems, ...phone.problems], []);
      await assertNoCspViolations(desktop, "the overview");
      await assertNoCspViolations(phone, "the overview on a phone");
    } finally {
      await desktop.context.close();
      await phone.context.close();
    }
  });

  test("the read-only STATUS_TOKEN sees everything but no buttons, and is told why", { timeout: 60_000 }, async () => {
    const { headers, body } = await getJson(worker, "/status", STATUS_TOKEN);
    assert.equal(headers.get("x-kv-sync-access"), "read-only");
    assert.equal(body.state, "idle");
    const refused = await worker.syncNow("", STATUS_TOKEN);
    assert.equal(refused.status, 403, "the read-only token cannot start a sync");

    const desktop = await openDashboard(browser, worker.url, STATUS_TOKEN);
    const phone = await openDashboard(browser, worker.url, STATUS_TOKEN, PHONE);
    try {
      for (const { page } of [desktop, phone]) {
        await waitForPage(page, (s) => s.state === "idle" && s.runStatus === "completed", "the status under the read-only token");
        await page.getByTestId("read-only").waitFor({ state: "visible" });
        assert.match(await text(page.getByTestId("read-only")), /^Read-only token\. It can watch the syncs but not start one/);
        assert.equal(await page.getByTestId("sync-now").isVisible(), false, "no Sync now");
        assert.equal(await page.getByTestId("full-resync").isVisible(), false, "no Full resync");
        assert.match(await text(page.getByTestId("freshness")), /^KV matches BigQuery as of /);
        await page.getByTestId("sync-row").nth(1).waitFor();
      }
      await screenshot(desktop.page, "dashboard-read-only-desktop");
      await screenshot(phone.page, "dashboard-read-only-phone");
      await assertFitsPhone(phone.page);
      assert.deepEqual([...desktop.problems, ...phone.problems], []);
      await assertNoCspViolations(desktop, "the read-only page");
      await assertNoCspViolations(phone, "the read-only page on a phone");
    } finally {
      await desktop.context.close();
      await phone.context.close();
    }
  });
});

// States that take the real stack minutes (an alert episode with a pending
// delivery, a refused mass delete, a misconfigured sync, a run in progress
// beside others), shown by the page as a stand-in for the Worker serves them.
describe("the dashboard in states the stack reaches slowly, from a stand-in for the Worker", () => {
  let mock;
  before(async () => {
    mock = await startDashboardMock({ scene: "several" });
  });
  after(async () => {
    await mock?.close();
  });

  const open = async (name, device = DESKTOP, token = MOCK_SECRET) => {
    const session = await openDashboard(browser, mock.url, token, device);
    if (name !== "default") await session.page.locator(`[data-testid="sync-row"][data-sync="${name}"] [data-testid="sync-link"]`).click();
    await session.page.getByTestId("detail-title").filter({ hasText: new RegExp(`^\\s*Sync ${name}\\s*$`) }).waitFor();
    await session.page.getByTestId("detail").waitFor({ state: "visible" });
    return session;
  };

  test("alert episodes, a held-back deletion, full reads and a configuration error, in words", { timeout: 60_000 }, async () => {
    await assertDashboardPolicy(mock.url);
    const desktop = await open("events");
    const { page } = desktop;
    try {
      assert.equal(await page.getByTestId("sync-row").count(), 5);
      assert.match(await text(page.getByTestId("sync-error")), /Configuration error: SYNCS: sync broken-one: kv_binding/);

      // "events" fails and is stale: both episodes are alerted, one delivery pends.
      assert.equal((await readPage(page)).state, "failing");
      assert.match(await text(page.getByTestId("freshness")), /^KV matches BigQuery as of .+, next try .+$/);
      assert.match(await text(page.getByTestId("lag")), /^KV is at most 2 h 3\d min behind BigQuery$/);
      assert.match(await text(page.getByTestId("alerts-state")), /On · alert in progress/);
      const episodes = await page.getByTestId("alert-episode").allTextContents();
      assert.equal(episodes.length, 3, episodes.join("\n"));
      assert.match(episodes[0], /^Failing: alerted after 3 failed runs in a row/);
      assert.match(episodes[1], /^Stale: alerted because KV fell more than 30 min behind/);
      assert.match(episodes[2], /^1 alert not delivered yet/);
      await screenshot(page, "dashboard-standin-alerts-desktop");

      // "products": a full run that refused a mass delete says what it held back, in the run and the history.
      await page.locator('[data-testid="sync-link"]', { hasText: "products" }).click();
      await page.getByTestId("run-warning").waitFor({ state: "visible" });
      assert.ok((await text(page.getByTestId("run-warning"))).includes(MASS_DELETE));
      assert.ok((await text(page.getByTestId("history-warning"))).includes(MASS_DELETE));
      assert.match(await text(page.getByTestId("run-full-reason")), /a full resync was asked for/);
      assert.match((await page.getByTestId("alert-episode").allTextContents()).join(), /^Deletions held back/);

      // "companies": a full read in progress says why, and the headline says a run works.
      await page.locator('[data-testid="sync-link"]', { hasText: "companies" }).click();
      await page.getByTestId("run-full-reason").filter({ hasText: QUERY_CHANGED }).waitFor();
      assert.match(await text(page.getByTestId("freshness")), /^KV matches BigQuery as of .+, run #7 is syncing now$/);
      assert.equal(await text(page.getByTestId("next-sync")), "After this run");

      // "broken-one": never synced; its first run will read everything.
      await page.locator('[data-testid="sync-link"]', { hasText: "broken-one" }).click();
      await page.getByTestId("next-full-reason").filter({ hasText: FIRST_READ }).waitFor();
      assert.equal(await text(page.getByTestId("lag")), "Nothing synced yet");
      assert.deepEqual(desktop.problems, []);
      await assertNoCspViolations(desktop, "the stand-in's pages");
    } finally {
      await desktop.context.close();
    }
  });

  test("a full resync of a named sync goes through the dialog to ?sync=NAME&full=true", { timeout: 30_000 }, async () => {
    const desktop = await open("companies");
    try {
      const before = mock.triggers.length;
      await desktop.page.getByTestId("full-resync").click();
      assert.match(await text(desktop.page.getByTestId("confirm-dialog")), /Start a full resync of “companies”\?/);
      await desktop.page.getByTestId("confirm-full-resync").click();
      await desktop.page.getByTestId("action-message").filter({ hasText: /Full resync started: run #\d+/ }).waitFor();
      assert.deepEqual(mock.triggers.slice(before), [{ sync: "companies", params: { wait: "false", full: "true", sync: "companies" } }]);
      assert.deepEqual(desktop.problems, []);
      await assertNoCspViolations(desktop, "the dialog");
    } finally {
      await desktop.context.close();
    }
  });

  test("a phone opens any sync from the list; a read-only token gets no buttons there either", { timeout: 30_000 }, async () => {
    const phone = await open("default", PHONE, MOCK_STATUS_TOKEN);
    try {
      await phone.page.getByTestId("read-only").waitFor({ state: "visible" });
      assert.equal(await phone.page.getByTestId("sync-now").isVisible(), false);
      await phone.page.locator('[data-testid="sync-row"][data-sync="events"]').tap();
      await phone.page.getByTestId("detail-title").filter({ hasText: /^\s*Sync events\s*$/ }).waitFor();
      await waitForPage(phone.page, (s) => s.state === "failing", "events on the phone");
      assert.equal(await phone.page.getByTestId("full-resync").isVisible(), false);
      await assertFitsPhone(phone.page);
      await screenshot(phone.page, "dashboard-standin-syncs-phone");
      assert.deepEqual(phone.problems, []);
      await assertNoCspViolations(phone, "the phone");
    } finally {
      await phone.context.close();
    }
  });

  test("a Worker with one sync shows its detail without a list of syncs", { timeout: 30_000 }, async () => {
    const single = await startDashboardMock({ scene: "single" });
    const session = await openDashboard(browser, single.url, MOCK_SECRET);
    try {
      await waitForPage(session.page, (s) => s.state === "idle" && s.runStatus === "completed", "the single sync");
      assert.equal(await session.page.getByTestId("syncs").isVisible(), false);
      assert.equal(await session.page.getByTestId("detail-title").isVisible(), false);
      assert.equal(await session.page.getByTestId("error-banner").isVisible(), false);
      assert.equal(await session.page.getByTestId("alerts-state").textContent(), "Not configured");
      // What POST /push did, and when it last did it.
      const pushed = await session.page.getByTestId("push").locator("div")
        .evaluateAll((items) => items.map((i) => `${i.querySelector("span").textContent} ${i.querySelector("b").textContent}`));
      assert.deepEqual(pushed, ["Received 1,240", "Written 1,198", "Deleted 12", "Unchanged 21", "Stale 6", "Failed 3"]);
      assert.match(await text(session.page.getByTestId("push-last")), /^Last push \S.* \(.+ ago\)$/);
      // The last run's cost, the day's, and a key explained.
      assert.equal(await text(session.page.getByTestId("run-cost")), "Cost: 10.0 MiB billed by BigQuery · 37 KV writes, 0 deletes · 85 storage rows written, 40 read");
      assert.match(await text(session.page.getByTestId("cost-day")), /^About \$0\.0052 a day at list prices/);
      await session.page.getByTestId("explain-key").fill("lead:é/1");
      await session.page.getByTestId("explain-submit").click();
      await session.page.getByTestId("explain-state").waitFor();
      assert.match(await text(session.page.getByTestId("explain-state")), /^lead:é\/1: written by kv-sync by run #14 at /);
      assert.match(await text(session.page.getByTestId("explain-kv")), /something other than what kv-sync last wrote/);
      assert.deepEqual(session.problems, []);
      await assertNoCspViolations(session, "the single sync");
    } finally {
      await session.context.close();
      await single.close();
    }
  });
});
