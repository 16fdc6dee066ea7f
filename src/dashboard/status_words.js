"use strict";
(() => {
  const TOKEN_KEY = "kv-sync.token";
  const POLL_RUNNING_MS = 2000;
  const POLL_IDLE_MS = 3000;
  const FAILED_SHOWN = 8;
  const DEFAULT_SYNC = "default";
  const SYNC_NAME = /^[a-z0-9_-]{1,32}$/;
  const $ = (id) => document.getElementById(id);
  const nf = new Intl.NumberFormat("en-US");
  const num = (n) => (n === null || n === undefined ? "—" : nf.format(n));
  const usd = (x) => (x === null || x === undefined ? "—" : x < 0.01 ? `$${x.toPrecision(2)}` : `$${x.toFixed(2)}`);
  const bytes = (n) => (n === null || n === undefined ? "—" : n < 1024 ** 2 ? `${num(n)} B` : n < 1024 ** 3 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : `${(n / 1024 ** 3).toFixed(2)} GiB`);
  /** A run's cost in one line. */
  function costLine(c) {
    if (!c) return "";
    const billed = c.bigquery_bytes_billed === null ? "BigQuery bytes not reported" : `${bytes(c.bigquery_bytes_billed)} billed by BigQuery`;
    const cache = c.bigquery_cache_hit ? " (from its cache)" : "";
    return `Cost: ${billed}${cache} · ${num(c.kv_writes)} KV writes, ${num(c.kv_deletes)} deletes · ${num(c.storage_rows_written)} storage rows written, ${num(c.storage_rows_read)} read`;
  }
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const icon = (name, cls = "") => `<svg class="icon ${cls}" aria-hidden="true"><use href="#i-${name}"/></svg>`;

  const view = {
    sync: DEFAULT_SYNC, // the sync the detail shows (#sync=NAME)
    data: null,        // last good Status of that sync
    receivedAt: 0,     // Date.now() when it arrived
    skewMs: 0,         // server clock − local clock
    lastError: null,
    timer: null,
    generation: 0,     // bumps on every poll so a late answer never overwrites a newer one
    allFailed: false,  // the failed-rows list is expanded
    syncs: null,       // last good GET /syncs answer (an array), or null
    syncsAt: 0,        // Date.now() when it arrived
    readOnly: false,   // the token is the read-only STATUS_TOKEN (X-KV-Sync-Access: read-only)
  };

  // ---------- time and words ----------
  /** RFC 3339 with up to 9 fractional digits → ms since epoch (Date.parse is strict about digits in some browsers). */
  function parseTime(s) {
    if (!s) return null;
    const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)$/.exec(s);
    if (!m) { const t = Date.parse(s); return Number.isNaN(t) ? null : t; }
    return Date.parse(`${m[1]}.${(m[2] || "0").slice(0, 3).padEnd(3, "0")}${m[3]}`);
  }
  const serverNow = () => Date.now() + view.skewMs;
  const plural = (n, one, many = one + "s") => `${n} ${n === 1 ? one : many}`;
  const has = (o, k) => o !== null && typeof o === "object" && Object.prototype.hasOwnProperty.call(o, k);

  /** A duration in seconds for people: "4.2 s", "38 s", "3 min 5 s", "2 h 10 min", "38 days". */
  function duration(sec) {
    if (sec === null || sec === undefined || !Number.isFinite(sec)) return "—";
    sec = Math.max(0, sec);
    if (sec < 10) return `${sec.toFixed(1)} s`;
    if (sec < 60) return `${Math.round(sec)} s`;
    if (sec < 3600) {
      const m = Math.floor(sec / 60), s = Math.round(sec % 60);
      return s && m < 10 ? `${m} min ${s} s` : `${m} min`;
    }
    if (sec < 86400) {
      const h = Math.floor(sec / 3600), m = Math.round((sec % 3600) / 60);
      return m ? `${h} h ${m} min` : `${h} h`;
    }
    const d = Math.floor(sec / 86400), h = Math.round((sec % 86400) / 3600);
    return d < 3 && h ? `${plural(d, "day")} ${h} h` : plural(d, "day");
  }
  /** How far behind, in words coarser than duration(): nobody needs seconds here. */
  function lagWords(sec) {
    if (sec < 3600) return plural(Math.round(sec / 60), "minute");
    return duration(sec);
  }
  function countdown(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const two = (x) => String(x).padStart(2, "0");
    return h ? `${h}:${two(m)}:${two(r)}` : `${m}:${two(r)}`;
  }
  const today = (d) => new Date().toDateString() === d.toDateString();
  const day = (d) => d.toLocaleDateString([], { day: "numeric", month: "short" });
  /** A moment to the second, in the viewer's local time ("7:56:10 AM"; with the date when not today). */
  function clock(ms, withDate) {
    if (ms === null) return "—";
    const d = new Date(ms);
    const t = d.toLocaleTimeString([], { hour: "numeric", minute: "2-digit", second: "2-digit" });
    if (!withDate && today(d)) return t;
    return `${day(d)}, ${t}`;
  }
  /** A moment to the minute, in the viewer's local time ("10:05 AM"; with the date when not today). */
  function hm(ms) {
    if (ms === null) return "—";
    const d = new Date(ms);
    const t = d.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
    return today(d) ? t : `${day(d)}, ${t}`;
  }
  function ago(ms) {
    const s = (serverNow() - ms) / 1000;
    return s < 5 ? "just now" : `${duration(s)} ago`;
  }

  const TRIGGERS = { alarm: "Scheduled", webhook: "Sync now / webhook", full: "Full resync" };
  const TRIGGERS_SHORT = { alarm: "scheduled", webhook: "webhook", full: "full" };
  function runPill(status) {
    const map = { completed: ["check", "Completed"], running: ["sync", "Running"], failed: ["x", "Failed"] };
    const [ic, label] = map[status] || ["info", status];
    return `<span class="pill ${esc(status)}">${icon(ic, status === "running" ? "spin" : "")}${esc(label)}</span>`;
  }
  const STATES = { idle: ["check", "Idle", "completed"], running: ["sync", "Running", "running"], failing: ["alert", "Failing", "failed"] };
  function statePill(state) {
    const [ic, label, cls] = STATES[state] || ["info", state || "unknown", ""];
    return `<span class="pill ${cls}" data-state="${esc(state)}">${icon(ic, state === "running" ? "spin" : "")}${esc(label)}</span>`;
  }

  /** Plain words for the error classes the engine reports (a Run's `error_class`). */
  const ERROR_WORDS = {
    invalidQuery: "BigQuery rejected the sync query. Check SYNC_QUERY (or the default query) against the dataset.",
    auth: "BigQuery refused the credentials (401/403). Check BIGQUERY_CREDENTIALS and the service account's roles.",
    rateLimitExceeded: "BigQuery is rate-limiting kv-sync. It backs off and retries on its own.",
    backendError: "BigQuery had a server-side error. kv-sync retries shortly.",
    timeout: "BigQuery took too long to answer. kv-sync retries shortly.",
    malformedResponse: "BigQuery sent an answer kv-sync could not read.",
    bigqueryUnreachable: "BigQuery could not be reached (network, DNS, or BIGQUERY_API_BASE).",
    resultsExpired: "BigQuery's query results expired before the run finished reading them; the query is run again.",
    kvRateLimited: "Workers KV is rate-limiting writes. kv-sync backs off and retries.",
    kvUnavailable: "Workers KV was unavailable. kv-sync retries shortly.",
    kvRejected: "Workers KV rejected a write (check the KV namespace binding or the bulk API settings).",
    leaseLost: "Another invocation took over this run after its lease expired; the newer one carries on.",
    storage: "The coordinator's own storage failed.",
    configuration: "A configuration variable of the Worker is invalid.",
  };
  function plainError(text, errorClass) {
    if (!text) return "";
    if (ERROR_WORDS[errorClass]) return ERROR_WORDS[errorClass];
    if (/SYNC_|SYNCS|BIGQUERY_|KV_|MAX_KV|INVOCATION_BUDGET|CLOUDFLARE_|ALERT_|RECONCILE_|FULL_SYNC/.test(text)) return "A configuration variable of the Worker is invalid.";
    return "The last run failed.";
  }

  // ---------- the Status in the terms people ask about ----------
  /** When KV last matched BigQuery (the last completed run's query start), or null. */
  function lastSuccessAt(d) {
    if (has(d, "last_success_at")) return parseTime(d.last_success_at);
    // A Worker from before last_success_at: the newest completed run's start is the same moment, give or take.
    const ok = (d.recent_runs || []).find((r) => r.status === "completed");
    return ok ? parseTime(ok.started_at) : null;
  }
  /** The next scheduled run, or null (a run in progress has none; its watchdog alarm is not a sync). */
  function nextSyncAt(d) {
    if (d.state === "running") return null;
    return parseTime(has(d, "next_sync_at") ? d.next_sync_at : d.next_alarm_at);
  }
  /** Seconds KV may be behind BigQuery, right now (moves between polls). */
  function stalenessNow(d) {
    const since = (Date.now() - view.receivedAt) / 1000;
    if (typeof d.staleness_seconds === "number") return d.staleness_seconds + since;
    const at = lastSuccessAt(d);
    return at === null ? null : Math.max(0, (serverNow() - at) / 1000);
  }
  const runOf = (d) => d.current_run || d.last_run || (d.recent_runs || [])[0];
