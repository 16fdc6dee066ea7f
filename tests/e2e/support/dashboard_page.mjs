// What the dashboard tests share: reading the page, checking its policy and
// its fit on a phone, and a local receiver for alert webhooks.
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:http";
import { SECRET, sleep } from "./stack.mjs";
import { DESKTOP, openDashboard as openPage, PHONE } from "./browser.mjs";

/** What the page shows right now, read from its data-testid elements. */
export function readPage(page) {
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

export async function waitForPage(page, predicate, what, timeoutMs = 60_000) {
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
export function openDashboard(browser, baseUrl, token, device = DESKTOP) {
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
export async function assertNoCspViolations({ page, problems }, what) {
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
export async function assertDashboardPolicy(baseUrl) {
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

/**
 * The viewer's local time to the minute, as the page writes it ("10:05 AM";
 * with the date, "Dec 8, 12:03 AM", when it is not today: a next sync past
 * midnight).
 */
export function localMinute(page, rfc3339) {
  return page.evaluate((t) => {
    const d = new Date(t);
    const time = d.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
    if (new Date().toDateString() === d.toDateString()) return time;
    return `${d.toLocaleDateString([], { day: "numeric", month: "short" })}, ${time}`;
  }, rfc3339);
}

export const text = async (locator) => (await locator.textContent()).replace(/\s+/g, " ").trim();

/** GET a route of the Worker with a bearer; the body parsed. */
export async function getJson(worker, pathAndQuery, token = SECRET) {
  const response = await worker.call(pathAndQuery, { headers: { authorization: `Bearer ${token}` } });
  return { status: response.status, headers: response.headers, body: await response.json() };
}

/** Receives alert webhooks (ALERT_WEBHOOK_URL) and keeps their bodies. */
export async function startAlertReceiver() {
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
export async function waitForStatus(worker, predicate, what, timeoutMs = 20_000, path = "/status") {
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
export async function assertFitsPhone(page) {
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= PHONE.viewport.width, `the page is ${width} px wide on a ${PHONE.viewport.width} px phone`);
}
