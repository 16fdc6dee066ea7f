// Headless Chromium for the dashboard test: Debian's `chromium` package
// (tools/setup.sh installs it) driven by playwright-core. No browser download,
// no network: the page only talks to the Worker on 127.0.0.1.
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { ROOT } from "./stack.mjs";

export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
export const OUTPUT = path.join(ROOT, "test-output");

/** Launches headless Chromium with a fresh temporary profile, or fails saying why. */
export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is not installed at ${CHROMIUM}. The dashboard test needs Debian's chromium package: ` +
        "run tools/setup.sh (or `apt-get install -y chromium`), or set CHROMIUM_PATH to a Chromium binary.",
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-quic"],
  });
}

export const DESKTOP = { viewport: { width: 1280, height: 900 } };
export const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };

/** Saves a full-page screenshot as test-output/<name>.png and returns its path. */
export async function screenshot(page, name) {
  mkdirSync(OUTPUT, { recursive: true });
  const file = path.join(OUTPUT, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Opens /dashboard in a new page and answers its token prompt. */
export async function openDashboard(browser, baseUrl, token, device = DESKTOP) {
  const context = await browser.newContext({ ...device, colorScheme: "light", reducedMotion: "reduce" });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  // A 401 or 500 from /status is logged by Chromium as "Failed to load
  // resource"; that is the page working, not a problem with it.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(`console error: ${m.text()}`);
  });
  await page.goto(`${baseUrl}/dashboard`);
  await page.getByTestId("token-form").waitFor({ state: "visible" });
  await page.getByTestId("token-input").fill(token);
  await page.getByTestId("token-submit").click();
  return { context, page, problems };
}
