// A stand-in for the Worker's HTTP face, for the dashboard alone: serves
// the dashboard (src/dashboard/, joined as build.rs joins it) at /dashboard as the Worker does (a fresh nonce in
// every {{CSP_NONCE}}, the same Content-Security-Policy) and answers /status,
// /syncs and /sync-kv-now from Status objects shaped like the contract in
// SPEC.md ("Operations", "Named syncs"). The dashboard test uses it for
// states the real stack reaches only slowly (alert episodes, a refused mass
// delete, a misconfigured sync); by hand it shows the page without building
// the Worker:
//
//   node tests/e2e/support/dashboard_mock.mjs [--port 8788] [--scene several|single|fresh]
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { once } from "node:events";
import { createServer } from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const DASHBOARD_SOURCE = path.join(ROOT, "src/dashboard");

/** The page as build.rs joins it: each {{INCLUDE name}} of page.html replaced by that file. */
export function dashboardPage(dir = DASHBOARD_SOURCE) {
  const read = (name) => readFileSync(path.join(dir, name), "utf8");
  return read("page.html").replace(/\{\{INCLUDE ([^}]+)\}\}/g, (_, name) => read(name.trim()).trimEnd());
}
export const MOCK_SECRET = "mock-event-signing-secret";
export const MOCK_STATUS_TOKEN = "mock-status-token";

/** The dashboard's policy, as crates/kv-sync-core/src/edge/headers.rs writes it. */
export function dashboardPolicy(nonce) {
  return `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; ` +
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
}

const iso = (ms) => (ms === null || ms === undefined ? null : new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z"));
const MIN = 60_000;

/** A Run as /status shows it; times are ms since the epoch, `now` for a running run's duration. */
export function run(now, { id, trigger = "alarm", status = "completed", startedAt, seconds = 4.2, full = false,
  reason = null, warning = null, error = null, total = 120, read, written = 0, unchanged, deleted = 0, orphaned = 0,
  failed = 0, invocations = 1, jobs = 1 }) {
  const finished = status === "running" ? null : startedAt + seconds * 1000;
  read ??= status === "completed" ? total ?? 0 : 0;
  unchanged ??= Math.max(0, read - written - deleted - failed);
  return {
    id, trigger, status,
    started_at: iso(startedAt), finished_at: iso(finished),
    invocations, bigquery_jobs: jobs, total_rows: total, rows_read: read,
    rows_written: written, rows_deleted: deleted, rows_unchanged: unchanged, rows_failed: failed, rows_orphaned: orphaned,
    // The Worker stores a run's error as "class: detail" with the class beside it.
    error, error_class: error ? /^([A-Za-z]+):\s/.exec(error)?.[1] ?? "configuration" : null,
    warning, full, reason,
    duration_seconds: status === "running" ? (now - startedAt) / 1000 : seconds,
    cost: { bigquery_bytes_billed: 10_485_760, bigquery_bytes_processed: 52_000, bigquery_cache_hit: false, kv_writes: written,
      kv_deletes: deleted, kv_bulk_requests: 0, storage_rows_read: 40, storage_rows_written: 11 + 2 * written },
  };
}

/**
 * A Status. `runs` newest first (a running one first makes the state
 * "running"); `lastSuccessAt`, `nextSyncAt` in ms; `alerts` overrides.
 */
export function status(now, { runs = [], lastSuccessAt = null, nextSyncAt = null, interval = 300, queued = false,
  cursor = null, consecutiveFailures = 0, nextRunFullReason = null, alerts = {}, failedRows = [], failedCount, push = {} } = {}) {
  const current = runs.find((r) => r.status === "running") ?? null;
  const done = runs.filter((r) => r.status !== "running");
  const lastError = consecutiveFailures > 0 ? done.find((r) => r.status === "failed")?.error ?? null : null;
  const sum = (k) => runs.reduce((s, r) => s + (r[k] || 0), 0);
  return {
    state: current ? "running" : consecutiveFailures > 0 ? "failing" : "idle",
    cursor: cursor ? { updated_at: iso(cursor.at), key: cursor.key } : { updated_at: null, key: null },
    lag_seconds: cursor ? (now - cursor.at) / 1000 : null,
    interval_seconds: interval,
    next_alarm_at: iso(current ? now + 30_000 : nextSyncAt),
    queued,
    current_run: current,
    last_run: done[0] ?? null,
    recent_runs: runs.slice(0, 20),
    failed_rows: { count: failedCount ?? failedRows.length, recent: failedRows },
    totals: { runs: runs.length, rows_written: sum("rows_written"), rows_deleted: sum("rows_deleted"), rows_unchanged: sum("rows_unchanged"), rows_failed: sum("rows_failed") },
    consecutive_failures: consecutiveFailures,
    last_error: lastError,
    now: iso(now),
    last_success_at: iso(lastSuccessAt),
    staleness_seconds: lastSuccessAt === null ? null : (now - lastSuccessAt) / 1000,
    next_sync_at: iso(current ? null : nextSyncAt),
    next_run_full_reason: nextRunFullReason,
    alerts: { configured: false, after_failures: 3, staleness_seconds: 1800, pending: 0, failing: false, stale: false, reconcile_refused: false, ...alerts },
    push: { received: 0, written: 0, deleted: 0, unchanged: 0, stale: 0, failed: 0, last_at: null, ...push },
    cost: {
      last_24h: { runs: runs.length, bigquery_bytes_billed: 30 * 10_485_760, bigquery_bytes_processed: 123_456, bigquery_cache_hit: 250,
        kv_writes: sum("rows_written"), kv_deletes: sum("rows_deleted"), kv_bulk_requests: 0, storage_rows_read: 9_000, storage_rows_written: 3_200 },
      estimated_usd_per_day: 0.0052, prices: { bigquery_usd_per_tib_billed: 6.25, kv_usd_per_million_writes: 5, storage_usd_per_million_rows_written: 1, storage_usd_per_million_rows_read: 0.001 },
    },
  };
}

/** GET /keys/KEY's answer: every key is one a run wrote, changed in KV behind kv-sync's back. */
function explanation(key, sync, t0) {
  return {
    key, sync, kv_key: key, known: true, state: "written", updated_at: iso(t0 - 9 * MIN), last_written_at: iso(t0 - 3 * MIN),
    written_by: "run", run: 14, failed_reason: null, kv: { present: true, matches: false },
  };
}

/** GET /syncs's entry for a sync. */
export function syncEntry(name, s, error = null) {
  return {
    name, state: s.state, last_success_at: s.last_success_at, staleness_seconds: s.staleness_seconds,
    lag_seconds: s.lag_seconds, next_sync_at: s.next_sync_at, last_run: s.current_run ?? s.last_run, error,
  };
}

export const FIRST_READ = "first full read: every key is read, and keys no longer in the source are deleted";
export const QUERY_CHANGED = "SYNC_QUERY changed: rows it now selects may be older than the cursor";
export const MASS_DELETE = "412 of the 1320 keys kv-sync holds (31.2%) are no longer in the source, more than " +
  "RECONCILE_MAX_DELETE_PERCENT (20%): nothing was deleted. If that is right, run POST /sync-kv-now?full=true&allow_mass_delete=true";

/**
 * Named scenes: name → { syncs: { NAME: { status(now), error? } } }, times
 * relative to `t0` (the server's start) so that the page sees them age.
 */
export const SCENES = {
  /** One sync ("default"), idle, alerts off: what most deployments see. */
  single(t0) {
    return {
      default: {
        status: (now) => status(now, {
          lastSuccessAt: t0 - 3 * MIN, nextSyncAt: t0 + 2 * MIN, cursor: { at: t0 - 9 * MIN, key: "lead-004211" },
          push: { received: 1_240, written: 1_198, deleted: 12, unchanged: 21, stale: 6, failed: 3, last_at: iso(t0 - 40_000) },
          runs: [
            run(now, { id: 14, startedAt: t0 - 3 * MIN, written: 37, total: 412 }),
            run(now, { id: 13, startedAt: t0 - 8.5 * MIN, written: 12, total: 390 }),
            run(now, { id: 12, trigger: "webhook", startedAt: t0 - 14 * MIN, written: 180, total: 401, orphaned: 3, full: true,
              reason: "the scheduled full read, every 1 day: keys no longer in the source are deleted", seconds: 21, invocations: 2 }),
            run(now, { id: 11, status: "failed", startedAt: t0 - 20 * MIN, total: null, error: "backendError: BigQuery answered HTTP 503" }),
            run(now, { id: 10, startedAt: t0 - 26 * MIN, written: 44, total: 380 }),
          ],
        }),
      },
    };
  },
  /** Several syncs in every state, alerts configured, one misconfigured. */
  several(t0) {
    return {
      default: SCENES.single(t0).default,
      companies: {
        status: (now) => status(now, {
          lastSuccessAt: t0 - 11 * MIN, interval: 600, queued: true, cursor: { at: t0 - 40 * MIN, key: "co:acme-gmbh" },
          alerts: { configured: true },
          runs: [
            run(now, { id: 7, trigger: "alarm", status: "running", startedAt: t0 - 40_000, full: true, reason: QUERY_CHANGED,
              total: 52_000, read: Math.min(52_000, 21_000 + Math.round((now - t0) / 1000) * 400), written: 8_100, unchanged: 12_900, invocations: 4 }),
            run(now, { id: 6, startedAt: t0 - 11 * MIN, written: 240, total: 1_900, seconds: 7.5 }),
          ],
        }),
      },
      events: {
        status: (now) => status(now, {
          lastSuccessAt: t0 - 2.6 * 3600_000, nextSyncAt: t0 + 4 * MIN, consecutiveFailures: 4, cursor: { at: t0 - 3 * 3600_000, key: "ev-99812" },
          alerts: { configured: true, failing: true, stale: true, pending: 1 },
          runs: [4, 3, 2, 1].map((k) => run(now, { id: 20 + k, status: "failed", startedAt: t0 - (5 - k) * 9 * MIN, total: null,
            error: "invalidQuery: BigQuery: Unrecognized name: visitor_idd at [3:8]" }))
            .concat([run(now, { id: 20, startedAt: t0 - 2.6 * 3600_000, written: 5, total: 88 })]),
        }),
      },
      products: {
        status: (now) => status(now, {
          lastSuccessAt: t0 - 25 * MIN, nextSyncAt: t0 + 35 * MIN, interval: 3600, cursor: { at: t0 - 2 * 86_400_000, key: "sku-1182" },
          alerts: { configured: true, reconcile_refused: true },
          runs: [run(now, { id: 3, trigger: "full", startedAt: t0 - 25 * MIN, full: true, reason: "a full resync was asked for (?full=true)",
            total: 908, written: 0, seconds: 12, warning: MASS_DELETE })],
        }),
      },
      "broken-one": {
        error: "SYNCS: sync broken-one: kv_binding \"MISSING_STORE\" is not bound to a KV namespace",
        status: (now) => status(now, {
          nextSyncAt: t0 + 50_000, consecutiveFailures: 1, nextRunFullReason: FIRST_READ,
          runs: [run(now, { id: 1, status: "failed", startedAt: t0 - 4 * MIN, total: null, jobs: 0,
            error: "SYNCS: sync broken-one: kv_binding \"MISSING_STORE\" is not bound to a KV namespace" })],
        }),
      },
    };
  },
  /** A new deployment: nothing synced yet, the first run will be full. */
  fresh(t0) {
    return {
      default: { status: (now) => status(now, { nextSyncAt: t0 + 4.5 * MIN, nextRunFullReason: FIRST_READ, alerts: { configured: true } }) },
    };
  },
};

/**
 * Starts the stand-in on 127.0.0.1. `scene` is a SCENES name or a function
 * of t0 like them. `source` is the page's folder (default: the one the Worker embeds). Returns { url, triggers, close() }; `triggers` lists every
 * accepted POST /sync-kv-now as { sync, params }.
 */
export async function startDashboardMock({ scene = "several", port = 0, source = DASHBOARD_SOURCE } = {}) {
  const t0 = Date.now();
  const syncs = (typeof scene === "function" ? scene : SCENES[scene])(t0);
  const triggers = [];
  let nextRunId = 100;
  const server = createServer((req, res) => {
    const url = new URL(req.url, "http://mock");
    const send = (code, body, headers = {}) => {
      res.writeHead(code, { "content-type": "application/json", "cache-control": "no-store", "x-content-type-options": "nosniff", ...headers });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === "/dashboard") {
      const nonce = randomBytes(18).toString("base64");
      const html = dashboardPage(source).replaceAll("{{CSP_NONCE}}", nonce);
      res.writeHead(200, {
        "content-type": "text/html; charset=utf-8", "cache-control": "no-store", "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer", "content-security-policy": dashboardPolicy(nonce),
      });
      return res.end(html);
    }
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    const access = bearer === MOCK_SECRET ? "full" : bearer === MOCK_STATUS_TOKEN ? "read-only" : null;
    const known = ["/status", "/syncs", "/sync-kv-now"];
    if (!known.includes(url.pathname) && !url.pathname.startsWith("/keys/")) return send(404, { success: false, error: `no route for ${url.pathname}` });
    if (!access) return send(401, { success: false, error: bearer ? "invalid bearer token" : "missing bearer token" }, { "www-authenticate": "Bearer" });
    const accessHeader = access === "read-only" ? { "x-kv-sync-access": "read-only" } : {};
    const name = url.searchParams.get("sync") ?? "default";
    const now = Date.now();
    if (url.pathname === "/syncs") {
      return send(200, Object.entries(syncs).map(([n, s]) => syncEntry(n, s.status(now), s.error ?? null)), accessHeader);
    }
    if (!syncs[name]) return send(404, { success: false, error: `no sync named ${name}` });
    if (url.pathname === "/status") return send(200, syncs[name].status(now), accessHeader);
    if (url.pathname.startsWith("/keys/")) return send(200, explanation(decodeURIComponent(url.pathname.slice(6)), name, t0), accessHeader);
    if (req.method !== "POST") return send(405, { success: false, error: "method not allowed; use POST" }, { allow: "POST" });
    if (access !== "full") return send(403, { success: false, error: "this token may only read /status; starting a sync needs EVENT_SIGNING_SECRET" });
    triggers.push({ sync: name, params: Object.fromEntries(url.searchParams) });
    return send(202, { success: true, message: "KV sync started; continuing in background", timestamp: iso(now), run: { id: nextRunId++ } });
  });
  server.listen(port, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    triggers,
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, "close");
    },
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name, fallback) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : fallback;
  };
  const mock = await startDashboardMock({ scene: arg("scene", "several"), port: Number(arg("port", 8788)) });
  console.log(`dashboard: ${mock.url}/dashboard`);
  console.log(`token: ${MOCK_SECRET} (read-only: ${MOCK_STATUS_TOKEN})`);
}
