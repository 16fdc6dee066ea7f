// Issue #7 end to end: GET /dashboard in headless Chromium against the Worker
// in workerd. During a multi-invocation import the progress bar moves, the
// run completes and the history shows it; a /status outage shows a banner and
// the page recovers; a wrong token gets a clear 401 and the page asks again;
// a failing sync and quarantined rows are explained in words. Screenshots of
// each state (desktop and 390 px wide) go to test-output/.
//
// Issues #14 and #15: the headline says since when KV matches BigQuery and
// when the next sync is; alerts say whether they are configured and what is
// in progress; a full run says why it reads everything; a read-only token
// sees no buttons; every sync is listed and each can be opened, on a phone
// too; and the page runs under its Content-Security-Policy without a single
// violation. A stand-in for the Worker (support/dashboard_mock.mjs) shows the
// states the real stack reaches only slowly.
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:http";
import { after, before, describe, test } from "node:test";
import { seed, SECRET, sleep, startEmulator, startWorker, tempDir } from "./support/stack.mjs";
import { DESKTOP, launchBrowser, openDashboard as openPage, PHONE, screenshot } from "./support/browser.mjs";
import {
  FIRST_READ, MASS_DELETE, MOCK_SECRET, MOCK_STATUS_TOKEN, QUERY_CHANGED, startDashboardMock,
} from "./support/dashboard_mock.mjs";

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

/**
 * Opens /dashboard like support/browser.mjs does, with a recorder of
 * Content-Security-Policy violations installed before the page's first byte
 * runs (`securitypolicyviolation` events; Chromium also logs each one as a
 * console error, which lands in `problems`).
 */
function openDashboard(browser, baseUrl, token, device = DESKTOP) {
  const recording = {
    async newContext(options) {
      const context = await browser.newContext(options);
      await context.addInitScript(() => {
        window.__cspViolations = [];
        document.addEventListener("securitypolicyviolation", (e) => {
          window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}${e.sample ? `: ${e.sample}` : ""}`);
        });
      });
      return context;
    },
  };
  return openPage(recording, baseUrl, token, device);
}

/** No CSP violation in the page so far, neither as an event nor in the console. */
async function assertNoCspViolations({ page, problems }, what) {
  const violations = await page.evaluate(() => window.__cspViolations ?? null);
  assert.ok(Array.isArray(violations), `the violation recorder runs in ${what}`);
  assert.deepEqual(violations, [], `CSP violations in ${what}`);
  assert.deepEqual(problems.filter((p) => /Content Security Policy/i.test(p)), [], `CSP messages in the console of ${what}`);
}

/**
 * The dashboard is served under a policy that allows nothing from elsewhere,
 * with its own nonce on its one script and one stylesheet, and nothing in it
 * that the policy would block (so "no violations" above means something).
 */
async function assertDashboardPolicy(baseUrl) {
  const response = await fetch(`${baseUrl}/dashboard`);
  assert.equal(response.status, 200);
  const csp = response.headers.get("content-security-policy") ?? "";
  for (const part of ["default-src 'none'", "connect-src 'self'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'"]) {
    assert.ok(csp.includes(part), `the policy has ${part}: ${csp}`);
  }
  const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
  assert.ok(nonce, `the policy names a script nonce: ${csp}`);
  assert.ok(csp.includes(`style-src 'nonce-${nonce}'`), `styles by the same nonce: ${csp}`);
  assert.doesNotMatch(csp, /unsafe|https?:/, csp);
  const html = await response.text();
  assert.ok(!html.includes("{{CSP_NONCE}}"), "every nonce placeholder is filled");
  assert.equal(html.match(/<script\b[^>]*>/g)?.join(), `<script nonce="${nonce}">`, "one script, with the nonce");
  assert.equal(html.match(/<style\b[^>]*>/g)?.join(), `<style nonce="${nonce}">`, "one stylesheet, with the nonce");
  const nowhere = (re, what) => {
    const m = re.exec(html);
    assert.equal(m && html.slice(Math.max(0, m.index - 80), m.index + 80), null, what);
  };
  nowhere(/<[a-z][a-z0-9-]*\s[^<>]*\bstyle\s*=/i, "no inline style attribute, in markup or in markup the script builds");
  nowhere(/<[a-z][a-z0-9-]*\s[^<>]*\bon[a-z]+\s*=/i, "no inline event handler");
  nowhere(/javascript:/i, "no javascript: URL");
  const ours = new URL(baseUrl).origin;
  for (const [, url] of html.matchAll(/\b(?:src|href)\s*=\s*"([^"]*)"/g)) {
    assert.ok(url.startsWith("#") || url.startsWith("data:") || url.startsWith("/") || url.startsWith("${") || new URL(url, ours).origin === ours,
      `nothing loaded from elsewhere: ${url}`);
  }
}

/** The viewer's local time to the minute, as the page writes it ("10:05 AM"). */
function localMinute(page, rfc3339) {
  return page.evaluate((t) => new Date(t).toLocaleTimeString([], { hour: "numeric", minute: "2-digit" }), rfc3339);
}

const text = async (locator) => (await locator.textContent()).replace(/\s+/g, " ").trim();

/** GET a route of the Worker with a bearer; the body parsed. */
async function getJson(worker, pathAndQuery, token = SECRET) {
  const response = await worker.call(pathAndQuery, { headers: { authorization: `Bearer ${token}` } });
  return { status: response.status, headers: response.headers, body: await response.json() };
}

/** Receives alert webhooks (ALERT_WEBHOOK_URL) and keeps their bodies. */
async function startAlertReceiver() {
  const received = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      try { received.push(JSON.parse(body)); } catch { received.push(body); }
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${server.address().port}/alerts`,
    received,
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, "close");
    },
  };
}

/** Polls the Worker's /status until `predicate(body)` holds; returns that body. */
async function waitForStatus(worker, predicate, what, timeoutMs = 20_000, path = "/status") {
  const deadline = Date.now() + timeoutMs;
  let body;
  while (Date.now() < deadline) {
    ({ body } = await getJson(worker, path));
    if (predicate(body)) return body;
    await sleep(250);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${path} to show ${what}; it shows ${JSON.stringify(body).slice(0, 600)}`);
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
      assert.ok(reasons.some((r) => /lead-\d+3-x+…\s*key is 532 bytes; Workers KV allows at most 512/.test(r)), reasons.join("\n"));
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

  test("a Worker without /syncs (404) shows its one sync as before", { timeout: 30_000 }, async () => {
    const old = await startDashboardMock({ scene: "single", syncsRoute: false });
    const session = await openDashboard(browser, old.url, MOCK_SECRET);
    try {
      await waitForPage(session.page, (s) => s.state === "idle" && s.runStatus === "completed", "the single sync");
      assert.equal(await session.page.getByTestId("syncs").isVisible(), false);
      assert.equal(await session.page.getByTestId("detail-title").isVisible(), false);
      assert.equal(await session.page.getByTestId("error-banner").isVisible(), false);
      assert.equal(await session.page.getByTestId("alerts-state").textContent(), "Not configured");
      assert.deepEqual(session.problems, []);
      await assertNoCspViolations(session, "the single sync");
    } finally {
      await session.context.close();
      await old.close();
    }
  });
});
