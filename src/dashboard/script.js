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
    syncsSupported: true, // false once /syncs answered 404 (a Worker without named syncs)
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

  // ---------- token ----------
  const getToken = () => { try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch { return ""; } };
  const setToken = (t) => { try { t ? sessionStorage.setItem(TOKEN_KEY, t) : sessionStorage.removeItem(TOKEN_KEY); } catch { /* private mode: keep it in memory only */ } memoryToken = t; };
  let memoryToken = "";
  const token = () => getToken() || memoryToken;
  const authHeaders = () => ({ Authorization: `Bearer ${token()}` });

  function askForToken(rejected, detail) {
    clearTimeout(view.timer);
    view.generation++;
    view.data = null;
    view.lastError = null;
    view.syncs = null;
    view.readOnly = false;
    $("app").hidden = true;
    $("banner").hidden = true;
    $("conn").hidden = true;
    $("forget").hidden = true;
    $("auth").hidden = false;
    $("auth-error").hidden = !rejected;
    if (rejected) $("auth-error-text").textContent = `${detail ? detail + ". " : ""}Enter the Worker's EVENT_SIGNING_SECRET (or its read-only STATUS_TOKEN) again.`;
    const input = $("token");
    input.value = "";
    input.focus();
  }

  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const t = $("token").value.trim();
    if (!t) return;
    setToken(t);
    start();
  });
  $("forget").addEventListener("click", () => { setToken(""); askForToken(false); });

  function start() {
    $("auth").hidden = true;
    $("app").hidden = false;
    $("forget").hidden = false;
    renderDetailFrame();
    poll();
  }

  // ---------- which sync ----------
  /** The sync named in the address (#sync=NAME), else the default one. */
  function syncFromHash() {
    const m = /(?:^#|&)sync=([^&]*)/.exec(location.hash);
    let name = "";
    try { name = m ? decodeURIComponent(m[1]) : ""; } catch { name = ""; }
    return SYNC_NAME.test(name) ? name : DEFAULT_SYNC;
  }
  /** The query string that selects the shown sync ("" for the default one, as a Worker without named syncs expects). */
  const syncParam = () => (view.sync === DEFAULT_SYNC ? "" : `sync=${encodeURIComponent(view.sync)}`);

  function selectSync(name, fromUser) {
    if (name === view.sync) return;
    view.sync = name;
    view.generation++;
    view.data = null;
    view.lastError = null;
    view.allFailed = false;
    $("action-msg").textContent = "";
    $("action-msg").className = "action-msg";
    renderBanner();
    renderSyncs();
    renderDetailFrame();
    if (fromUser && window.matchMedia("(max-width: 860px)").matches) $("detail-title").scrollIntoView({ block: "start", behavior: "smooth" });
    if (token()) poll();
  }
  window.addEventListener("hashchange", () => selectSync(syncFromHash(), true));
  view.sync = syncFromHash();

  // ---------- polling ----------
  async function poll() {
    clearTimeout(view.timer);
    const generation = ++view.generation;
    let next = POLL_IDLE_MS;
    if (view.syncsSupported) loadSyncs(generation);
    try {
      const q = syncParam();
      const res = await fetch(`/status${q ? `?${q}` : ""}`, { headers: authHeaders(), cache: "no-store" });
      if (generation !== view.generation) return;
      if (res.status === 401) {
        const body = await res.json().catch(() => ({}));
        setToken("");
        askForToken(true, body.error ? `The Worker said: “${body.error}”` : "");
        return;
      }
      if (!res.ok) {
        const body = await res.json().catch(() => ({}));
        const what = res.status === 404 && view.sync !== DEFAULT_SYNC ? ` (is there a sync named “${view.sync}”?)` : "";
        throw new Error(`/status${q ? `?${q}` : ""} answered HTTP ${res.status}${body.error ? `: ${body.error}` : ""}${what}`);
      }
      const readOnly = res.headers.get("X-KV-Sync-Access") === "read-only";
      const data = await res.json();
      if (generation !== view.generation) return;
      view.readOnly = readOnly;
      view.receivedAt = Date.now();
      const serverTime = parseTime(data.now);
      view.skewMs = serverTime ? serverTime - view.receivedAt : 0;
      view.data = data;
      view.lastError = null;
      render();
      if (data.state === "running" || data.queued) next = POLL_RUNNING_MS;
    } catch (err) {
      if (generation !== view.generation) return;
      view.lastError = err instanceof TypeError ? `Could not reach the Worker (${err.message}).` : err.message;
      renderBanner();
      renderDetailFrame();
    }
    view.timer = setTimeout(poll, next);
  }

  /** GET /syncs beside /status: the overview of every sync. A Worker without it (404) is asked no more. */
  async function loadSyncs(generation) {
    try {
      const res = await fetch("/syncs", { headers: authHeaders(), cache: "no-store" });
      if (generation !== view.generation && view.syncs) return;
      if (res.status === 404 || res.status === 405) { view.syncsSupported = false; view.syncs = null; renderSyncs(); return; }
      if (!res.ok) return; // a 401 is handled by /status; other failures keep the last list
      const list = await res.json();
      if (!Array.isArray(list)) return;
      if (res.headers.get("X-KV-Sync-Access") === "read-only") view.readOnly = true;
      view.syncs = list;
      view.syncsAt = Date.now();
      renderSyncs();
      renderDetailFrame();
      renderReadOnly();
    } catch {
      // unreachable: /status reports it
    }
  }

  function renderBanner() {
    const b = $("banner");
    if (!view.lastError) { b.hidden = true; return; }
    b.hidden = false;
    $("banner-title").textContent = "Could not load the status";
    const since = view.data ? ` The figures below are from ${clock(view.receivedAt)}.` : "";
    $("banner-text").textContent = `${view.lastError} Retrying every ${POLL_IDLE_MS / 1000} s.${since}`;
    tick();
  }

  // ---------- rendering ----------
  /** Which sync the detail shows, and whether it has anything to show yet. */
  function renderDetailFrame() {
    const several = severalSyncs();
    $("detail-title").hidden = !several;
    $("detail-name").textContent = view.sync;
    $("detail").hidden = !view.data;
    $("detail-loading").hidden = !!view.data || !!view.lastError;
    $("confirm-sync").textContent = several ? ` of “${view.sync}”` : "";
  }

  function render() {
    const d = view.data;
    $("app").setAttribute("aria-busy", "false");
    renderBanner();
    renderDetailFrame();
    renderReadOnly();
    renderState(d);
    renderAlerts(d);
    renderRun(d);
    renderLastError(d);
    renderCharts();
    renderHistory(d.recent_runs || []);
    renderFailed(d.failed_rows || { count: 0, recent: [] });
    renderTotals(d);
    renderSyncs();
    tick();
  }

  function renderReadOnly() {
    $("actions").hidden = view.readOnly;
    $("read-only").hidden = !view.readOnly;
  }

  function renderState(d) {
    const st = $("state");
    const map = { idle: ["check", "Idle", ""], running: ["sync", "Running", "spin"], failing: ["alert", "Failing", ""] };
    const [ic, label, cls] = map[d.state] || ["info", d.state, ""];
    st.className = `badge ${map[d.state] ? d.state : "unknown"}`;
    st.dataset.state = d.state;
    st.innerHTML = `${icon(ic, cls)}<span>${esc(label)}</span>`;

    renderFreshness(d);
    const cur = d.current_run;
    let explain;
    if (d.state === "running" && cur) {
      explain = `Run #${cur.id} (${TRIGGERS_SHORT[cur.trigger] || cur.trigger}) is copying ${cur.full ? "every row of the source" : "changed rows"} into KV.`;
    } else if (d.state === "failing") {
      explain = `${plural(d.consecutive_failures || 1, "run")} in a row failed; kv-sync retries with backoff and KV keeps what it has.`;
    } else if (d.last_run && d.last_run.status === "completed" && d.last_run.finished_at) {
      explain = `The last sync finished ${ago(parseTime(d.last_run.finished_at))}; KV holds at least what BigQuery held when its query began.`;
    } else {
      const next = nextSyncAt(d);
      explain = `Press Sync now to copy the source into KV, or wait for the ${next !== null ? `first scheduled sync at ${hm(next)}` : "scheduled sync"}.`;
    }
    const cursorAt = parseTime(d.cursor?.updated_at);
    if (cursorAt) explain += ` The newest change in KV was made ${clock(cursorAt)}.`;
    $("explain").textContent = explain;
    $("queued").hidden = !d.queued;

    const why = d.next_run_full_reason;
    $("next-full").hidden = !why;
    $("next-full-text").textContent = why || "";
  }

  /**
   * The headline: since when KV is known to match BigQuery, and when it is
   * next brought up to date ("KV matches BigQuery as of 10:05 AM, next sync
   * 10:10 AM"); under it, how far behind KV may be at most. Before any sync
   * completed, the second line is the headline ("Nothing synced yet").
   * Called every second: the staleness grows between polls.
   */
  function renderFreshness(d) {
    const fresh = $("fresh"), lag = $("lag");
    const at = lastSuccessAt(d);
    const running = d.state === "running";
    if (at === null) {
      fresh.hidden = true;
      fresh.textContent = "";
      lag.className = "headline";
      lag.textContent = running ? "The first sync is running" : "Nothing synced yet";
      return;
    }
    fresh.hidden = false;
    let text = `KV matches BigQuery as of ${hm(at)}`;
    const next = nextSyncAt(d);
    if (running) {
      text += d.current_run ? `, run #${d.current_run.id} is syncing now` : ", a run is syncing now";
    } else if (next !== null) {
      const what = d.state === "failing" ? "next try" : "next sync";
      text += next <= serverNow() ? `, ${what} due now` : `, ${what} ${hm(next)}`;
    } else if (d.state === "failing") {
      text += "; syncs are failing";
    }
    fresh.textContent = text;

    const stale = stalenessNow(d);
    const limit = d.alerts && d.alerts.staleness_seconds;
    lag.className = `staleness${limit && stale > limit ? " late" : ""}`;
    // KV holds at least what BigQuery held at `at`: it is at most this far behind.
    lag.textContent = stale < 60 ? "KV is less than a minute behind BigQuery" : `KV is at most ${lagWords(stale)} behind BigQuery`;
    lag.title = limit ? `Alerts call it stale after ${duration(limit)}.` : "";
  }

  function renderAlerts(d) {
    const a = d.alerts;
    const card = $("alerts");
    card.hidden = !a;
    if (!a) return;
    const state = $("alerts-state");
    const episodes = [];
    if (a.failing) episodes.push(["bad", `Failing: alerted after ${plural(a.after_failures, "failed run")} in a row. A “recovered” alert follows the next completed run.`]);
    if (a.stale) episodes.push(["", `Stale: alerted because KV fell more than ${duration(a.staleness_seconds)} behind BigQuery.`]);
    if (a.reconcile_refused) episodes.push(["", "Deletions held back: alerted because a full run refused to delete keys that left the source (see the run's warning)."]);
    if (a.pending) episodes.push(["", `${plural(a.pending, "alert")} not delivered yet; retried on the next alarm.`]);
    card.classList.toggle("active", episodes.length > 0);
    if (a.configured) {
      state.className = `pill ${episodes.length ? "warn" : "on"}`;
      state.innerHTML = `${icon("bell")}${episodes.length ? "On · alert in progress" : "On"}`;
      $("alerts-text").textContent = `A webhook is called after ${plural(a.after_failures, "failed run")} in a row, when KV is more than ${duration(a.staleness_seconds)} behind BigQuery, and when a full run holds deletions back${episodes.length ? "." : ". No alert in progress."}`;
    } else {
      state.className = "pill off";
      state.innerHTML = `${icon("bell-off")}Not configured`;
      $("alerts-text").textContent = `Set ALERT_WEBHOOK_URL to be told (Slack or any webhook) after ${plural(a.after_failures, "failed run")} in a row or when KV is more than ${duration(a.staleness_seconds)} behind.`;
    }
    const list = $("alerts-episodes");
    list.hidden = episodes.length === 0;
    list.innerHTML = episodes.map(([cls, text]) => `<li class="${cls}" data-testid="alert-episode">${icon("alert")}<span>${esc(text)}</span></li>`).join("");
  }

  function renderRun(d) {
    const run = runOf(d);
    $("run-empty").hidden = !!run;
    $("run-body").hidden = !run;
    if (!run) {
      $("run-title").textContent = "Current run";
      $("run-pill").innerHTML = "";
      delete $("run-pill").dataset.status;
      $("run-sub").textContent = "";
      $("run-full").hidden = true;
      return;
    }
    const running = run.status === "running";
    $("run-title").textContent = running ? `Run #${run.id} in progress` : `Last run #${run.id}`;
    $("run-pill").innerHTML = runPill(run.status);
    $("run-pill").dataset.status = run.status;
    const startedAt = parseTime(run.started_at);
    $("run-sub").textContent = `${TRIGGERS[run.trigger] || run.trigger} · started ${clock(startedAt)}`;
    $("run-full").hidden = !run.full;
    $("run-reason").hidden = !(run.full && run.reason);
    $("run-reason-text").textContent = run.full && run.reason ? run.reason : "";

    const bar = $("bar"), fill = $("progress");
    const total = run.total_rows;
    const read = run.rows_read || 0;
    let pct = null;
    if (total !== null && total !== undefined) pct = total > 0 ? Math.min(100, (read / total) * 100) : 100;
    if (run.status === "completed") pct = 100;
    bar.className = `bar${run.status === "completed" ? " done" : ""}${run.status === "failed" ? " failed" : ""}${pct === null && running ? " indeterminate" : ""}`;
    fill.style.width = `${pct ?? 0}%`;
    fill.setAttribute("aria-valuenow", String(read));
    if (total !== null && total !== undefined) fill.setAttribute("aria-valuemax", String(total));
    else fill.removeAttribute("aria-valuemax");
    let label;
    if (total === null || total === undefined) {
      label = running ? (run.bigquery_jobs ? `${num(read)} rows read; waiting for the row count` : "Starting the BigQuery query…") : `${num(read)} rows read`;
    } else if (total === 0) {
      label = run.full ? "The source returned no rows" : "No new or changed rows since the last run";
    } else {
      label = `${num(read)} of ${num(total)} rows read`;
    }
    fill.setAttribute("aria-valuetext", label);
    $("progress-label").innerHTML = esc(label).replace(/^([\d,]+ of [\d,]+)/, "<strong>$1</strong>");
    $("progress-pct").textContent = pct === null ? "" : `${run.status === "failed" ? "stopped at " : ""}${pct >= 99.95 || pct === 0 ? pct.toFixed(0) : pct.toFixed(1)}%`;

    $("s-written").textContent = num(run.rows_written);
    $("s-unchanged").textContent = num(run.rows_unchanged);
    $("s-deleted").textContent = num(run.rows_deleted);
    $("s-orphaned").textContent = has(run, "rows_orphaned") ? num(run.rows_orphaned) : "—";
    $("s-failed").textContent = num(run.rows_failed);
    $("s-failed-box").classList.toggle("alert", run.rows_failed > 0);
    $("s-inv").textContent = num(run.invocations);
    $("s-jobs").textContent = num(run.bigquery_jobs);
    const mode = $("s-mode");
    mode.textContent = has(run, "full") ? (run.full ? "Full" : "Changes") : "—";
    mode.title = has(run, "full") ? (run.full ? "The whole source (cursor ignored)" : "Rows changed since the cursor, minus the lookback") : "";
    $("s-elapsed-k").textContent = running ? "Elapsed" : "Duration";
    $("s-eta-k").textContent = running ? "Time left (est.)" : "Finished";

    const warning = $("run-warning");
    warning.hidden = !run.warning;
    $("run-warning-text").textContent = run.warning || "";

    const err = $("run-error");
    err.hidden = !run.error || run.error === d.last_error;
    if (run.error) {
      err.querySelector("strong").textContent = running ? "The last invocation of this run hit an error; it will be retried" : "This run stopped with an error";
      $("run-error-text").textContent = `${plainError(run.error, run.error_class)} (${run.error})`;
    }
  }

  function renderLastError(d) {
    const box = $("last-error");
    const text = d.last_error;
    box.hidden = !text && d.state !== "failing";
    if (box.hidden) return;
    const failed = (d.recent_runs || []).find((r) => r.error === text);
    $("last-error-plain").textContent = plainError(text, failed?.error_class) || "The last run failed.";
    const n = d.consecutive_failures || 0;
    $("last-error-meta").textContent = `${plural(n, "run")} in a row failed. kv-sync keeps retrying with backoff; the cursor stays where it was, so nothing is lost.`;
    $("last-error-raw").textContent = text || "(no error message)";
  }

  /** Ticks every second: countdowns, staleness and elapsed time move between polls. */
  function tick() {
    const d = view.data;
    const conn = $("conn");
    if (!d) { conn.hidden = true; return; }
    conn.hidden = false;
    const age = (Date.now() - view.receivedAt) / 1000;
    conn.classList.toggle("stale", !!view.lastError || age > 15);
    $("conn-text").textContent = view.lastError ? `Reconnecting… last update ${ago(view.receivedAt + view.skewMs)}` : `Live · updated ${age < 5 ? "just now" : duration(age) + " ago"}`;

    renderFreshness(d);

    // next sync
    const count = $("next-count"), detail = $("next-detail");
    const next = nextSyncAt(d);
    const every = `Runs every ${duration(d.interval_seconds)} after the previous one ends.`;
    count.classList.remove("text");
    if (d.state === "running") {
      count.textContent = "After this run";
      count.classList.add("text");
      detail.textContent = d.queued ? `A follow-up run starts as soon as this one finishes. ${every}` : every;
    } else if (next !== null) {
      const left = next - serverNow();
      count.textContent = left > 0 ? countdown(left) : "Due now";
      if (left <= 0) count.classList.add("text");
      const what = d.state === "failing" ? "Retry" : "Next sync";
      detail.textContent = `${what} at ${clock(next)}. ${d.state === "failing" ? "Retries back off after each failure." : every}`;
    } else {
      count.textContent = "Not scheduled";
      count.classList.add("text");
      detail.textContent = "No sync is scheduled yet; the first sync schedules the next. " + every;
    }
    const cursorAt = parseTime(d.cursor?.updated_at);
    $("cursor-age").textContent = cursorAt === null ? "none yet" : `${hm(cursorAt)} (${duration((serverNow() - cursorAt) / 1000)} old)`;
    $("cursor-age").title = "The cursor's updated_at: the newest change kv-sync copied. Its age (lag_seconds) is how long BigQuery had no newer change, not how far behind KV is.";

    // elapsed and estimate for the shown run
    const run = runOf(d);
    if (run) {
      const running = run.status === "running";
      const elapsed = run.duration_seconds + (running ? (Date.now() - view.receivedAt) / 1000 : 0);
      $("s-elapsed").textContent = duration(elapsed);
      let eta = "—";
      if (running) {
        const total = run.total_rows, read = run.rows_read;
        if (total && read > 0 && run.duration_seconds > 0) {
          const rate = read / run.duration_seconds;
          const left = (total - read) / rate - (Date.now() - view.receivedAt) / 1000;
          eta = read >= total ? "finishing…" : left > 1 ? `~${duration(left)}` : "a moment";
        } else {
          eta = "estimating…";
        }
      } else {
        eta = run.finished_at ? clock(parseTime(run.finished_at)) : "—";
      }
      $("s-eta").textContent = eta;
    }
  }
  setInterval(tick, 1000);

  // ---------- every sync at a glance ----------
  /** More than the default sync: the overview and the sync's name are shown. */
  function severalSyncs() {
    const list = view.syncs;
    if (view.sync !== DEFAULT_SYNC) return true;
    return Array.isArray(list) && (list.length > 1 || (list.length === 1 && list[0].name !== DEFAULT_SYNC));
  }

  function renderSyncs() {
    const card = $("syncs");
    const list = view.syncs;
    card.hidden = !severalSyncs() || !Array.isArray(list);
    if (card.hidden) return;
    const failing = list.filter((s) => s.state === "failing" || s.error).length;
    $("syncs-sub").textContent = `${plural(list.length, "sync")}${failing ? `, ${failing} failing` : ""} · select one for its details`;
    const since = (Date.now() - view.syncsAt) / 1000;
    let html = '<div class="sync-head" aria-hidden="true"><span>Sync</span><span>State</span><span>KV matches BigQuery as of</span><span>Behind (at most)</span><span>Last run</span><span>Next sync</span></div>';
    for (const s of list) {
      const name = String(s.name);
      const selected = name === view.sync;
      const at = parseTime(s.last_success_at);
      const stale = typeof s.staleness_seconds === "number" ? s.staleness_seconds + since : null;
      const behind = stale === null ? "" : stale < 60 ? "less than a minute behind" : `at most ${lagWords(stale)} behind`;
      const next = parseTime(s.next_sync_at);
      const run = s.last_run;
      const fresh = at === null
        ? '<span class="muted">Nothing synced yet</span>'
        : `<span class="lbl">KV matches BigQuery as of </span>${esc(hm(at))}${behind ? `<span class="lbl">, ${esc(behind)}</span>` : ""}`;
      const lastRun = run
        ? `<span class="lbl">Last run </span>#${esc(run.id)} ${runPill(run.status)}${run.full ? ' <span class="tag-full">full</span>' : ""} <span class="when">${esc(clock(parseTime(run.finished_at || run.started_at)))}</span>`
        : '<span class="muted">no run yet</span>';
      const nextText = next !== null ? hm(next) : s.state === "running" ? "after this run" : "—";
      html += `<div class="sync-row${selected ? " selected" : ""}" role="listitem" data-testid="sync-row" data-sync="${esc(name)}" data-state="${esc(s.state)}"${selected ? ' aria-current="true"' : ""}>
        <span class="c-name"><a class="sync-link" href="#sync=${esc(encodeURIComponent(name))}" data-testid="sync-link">${esc(name)}</a></span>
        <span class="c-state">${statePill(s.state)}</span>
        <span class="c-fresh" data-testid="sync-freshness">${fresh}</span>
        <span class="c-behind">${esc(stale === null ? "—" : stale < 60 ? "< 1 min" : lagWords(stale))}</span>
        <span class="c-run">${lastRun}</span>
        <span class="c-next"><span class="lbl">Next: </span>${esc(nextText)}</span>
        ${s.error ? `<span class="c-error" data-testid="sync-error">${icon("x")} Configuration error: ${esc(s.error)}</span>` : ""}
      </div>`;
    }
    $("syncs-list").innerHTML = html;
  }
  // A tap anywhere on a sync's row selects it (the name is a link for keyboards and new tabs).
  $("syncs-list").addEventListener("click", (e) => {
    if (e.target.closest("a")) return;
    const row = e.target.closest("[data-sync]");
    if (row) location.hash = `sync=${encodeURIComponent(row.dataset.sync)}`;
  });

  // ---------- charts (inline SVG) ----------
  function niceMax(v) {
    if (v <= 0) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }
  const compact = (n) => n >= 1e6 ? `${+(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${+(n / 1e3).toFixed(1)}k` : String(+n.toFixed(1));
  function shortDuration(s) {
    if (s < 60) return `${+s.toFixed(s < 10 ? 1 : 0)} s`;
    if (s < 3600) return `${+(s / 60).toFixed(1)} min`;
    return `${+(s / 3600).toFixed(1)} h`;
  }

  function barChart(el, runs, valueOf, fmtAxis, fmtTip, title) {
    if (!runs.length) { el.innerHTML = '<p class="empty">No runs yet.</p>'; return; }
    const W = Math.max(260, Math.round(el.clientWidth || 480)), H = 170;
    const pad = { l: 46, r: 6, t: 16, b: 24 };
    const iw = W - pad.l - pad.r, ih = H - pad.t - pad.b;
    const max = niceMax(Math.max(...runs.map(valueOf)));
    const slots = Math.max(runs.length, 10);
    const slot = iw / slots;
    const bw = Math.max(3, Math.min(34, slot * 0.62));
    const y = (v) => pad.t + ih - (v / max) * ih;
    let svg = `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">`;
    for (const f of [0, 0.5, 1]) {
      const gy = y(max * f);
      svg += `<line class="grid-line" x1="${pad.l}" x2="${W - pad.r}" y1="${gy}" y2="${gy}"/>`;
      svg += `<text x="${pad.l - 8}" y="${gy + 4}" text-anchor="end">${esc(fmtAxis(max * f))}</text>`;
    }
    const labelEvery = Math.ceil(26 / slot);
    runs.forEach((r, i) => {
      const v = valueOf(r);
      const cx = pad.l + iw - (runs.length - i - 0.5) * slot;
      const top = y(v);
      const h = Math.max(v > 0 ? 2 : 0, pad.t + ih - top);
      const cls = r.status === "failed" ? "b-failed" : r.status === "running" ? "b-running" : "b-ok";
      svg += `<g class="bar-g"><title>${esc(fmtTip(r))}</title>`;
      svg += `<rect x="${cx - slot / 2}" y="${pad.t}" width="${slot}" height="${ih}" fill="transparent"/>`;
      svg += `<rect class="${cls}" x="${(cx - bw / 2).toFixed(1)}" y="${(pad.t + ih - h).toFixed(1)}" width="${bw.toFixed(1)}" height="${h.toFixed(1)}" rx="${Math.min(3, bw / 3)}"/>`;
      if (r.status === "failed") svg += `<text class="mark-failed" x="${cx}" y="${pad.t + ih - h - 4}" text-anchor="middle">✕</text>`;
      if ((runs.length - 1 - i) % labelEvery === 0) svg += `<text x="${cx}" y="${H - 6}" text-anchor="middle">#${r.id}</text>`;
      svg += `</g>`;
    });
    svg += `</svg>`;
    el.innerHTML = svg;
  }

  function renderCharts() {
    const d = view.data;
    if (!d) return;
    const runs = [...(d.recent_runs || [])].reverse();
    const tip = (r) => `Run #${r.id} (${TRIGGERS_SHORT[r.trigger] || r.trigger}${r.full ? ", full read" : ""}, ${r.status}): ${num(r.rows_written)} rows written, ${num(r.rows_unchanged)} unchanged, ${duration(r.duration_seconds)}`;
    barChart($("chart-rows"), runs, (r) => r.rows_written || 0, compact, tip, `Rows written per run for the last ${runs.length} runs`);
    barChart($("chart-duration"), runs, (r) => r.duration_seconds || 0, shortDuration, tip, `Duration per run for the last ${runs.length} runs`);
  }
  let resizeTimer;
  window.addEventListener("resize", () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(renderCharts, 120); });

  // ---------- tables ----------
  function renderHistory(runs) {
    const el = $("history");
    if (!runs.length) { el.innerHTML = '<p class="empty">No runs yet.</p>'; return; }
    const cols = 12;
    let html = `<table class="cards"><thead><tr><th>Run</th><th>Status</th><th>Trigger</th><th>Started</th><th class="n">Duration</th><th class="n">Read</th><th class="n">Written</th><th class="n">Unchanged</th><th class="n">Deleted</th><th class="n">Failed</th><th class="n">Invocations</th><th class="n">BQ jobs</th></tr></thead><tbody>`;
    for (const r of runs) {
      const read = r.total_rows !== null && r.total_rows !== undefined ? `<span>${num(r.rows_read)} <span class="sub">of ${num(r.total_rows)}</span></span>` : num(r.rows_read);
      const deleted = r.rows_orphaned ? `<span>${num(r.rows_deleted)} <span class="sub" title="keys deleted because their rows left the source">+${num(r.rows_orphaned)} left source</span></span>` : num(r.rows_deleted);
      // Notes under the run: why it read everything, what it held back, its error.
      const subs = [];
      if (r.full && r.reason) subs.push(`<tr class="note-row" data-testid="history-reason"><td colspan="${cols}">${icon("layers")} Full read: ${esc(r.reason)}</td></tr>`);
      if (r.warning) subs.push(`<tr class="note-row warn" data-testid="history-warning"><td colspan="${cols}">${icon("alert")} Held back: ${esc(r.warning)}</td></tr>`);
      if (r.error) subs.push(`<tr class="err-row"><td colspan="${cols}">${icon("x")} ${esc(r.error)}</td></tr>`);
      html += `<tr class="run${r.error ? " has-err" : ""}${subs.length ? " has-sub" : ""}" data-testid="history-row" data-run-id="${esc(r.id)}" data-status="${esc(r.status)}" data-full="${r.full ? "true" : "false"}">
        <td class="head" data-label="Run"><span>#${esc(r.id)}</span><span class="m-only">${runPill(r.status)}</span></td>
        <td class="d-only" data-label="Status">${runPill(r.status)}</td>
        <td data-label="Trigger"><span>${esc(TRIGGERS_SHORT[r.trigger] || r.trigger)}${r.full && r.trigger !== "full" ? ' <span class="tag-full">full read</span>' : ""}</span></td>
        <td class="nowrap" data-label="Started">${esc(clock(parseTime(r.started_at)))}</td>
        <td class="n nowrap" data-label="Duration">${esc(duration(r.duration_seconds))}</td>
        <td class="n" data-label="Read">${read}</td>
        <td class="n" data-label="Written">${num(r.rows_written)}</td>
        <td class="n" data-label="Unchanged">${num(r.rows_unchanged)}</td>
        <td class="n" data-label="Deleted">${deleted}</td>
        <td class="n" data-label="Failed">${r.rows_failed ? `<b class="num-bad">${num(r.rows_failed)}</b>` : "0"}</td>
        <td class="n" data-label="Invocations">${num(r.invocations)}</td>
        <td class="n" data-label="BQ jobs">${num(r.bigquery_jobs)}</td>
      </tr>`;
      subs.forEach((row, i) => { html += i < subs.length - 1 ? row.replace('<tr class="', '<tr class="has-sub ') : row; });
    }
    el.innerHTML = html + "</tbody></table>";
  }

  function renderFailed(f) {
    $("failed-count").textContent = f.count ? `${num(f.count)} quarantined in total${f.recent.length < f.count ? `, latest ${f.recent.length} shown` : ""}` : "none";
    const el = $("failed");
    if (!f.recent.length) {
      el.innerHTML = `<p class="empty">${icon("check")} No failed rows. Rows that cannot go to KV (a null key, a key over 512 bytes, a value or metadata too large) are set aside here with the reason, without holding up the sync.</p>`;
      return;
    }
    const shown = view.allFailed ? f.recent : f.recent.slice(0, FAILED_SHOWN);
    let html = `<table class="cards"><thead><tr><th>Key</th><th>Reason</th><th>When</th></tr></thead><tbody>`;
    for (const r of shown) {
      html += `<tr data-testid="failed-row"><td class="wide mono key" data-label="Key" title="${esc(r.key)}">${r.key ? esc(r.key) : '<span class="muted">(no key)</span>'}</td><td class="wide reason" data-label="Reason">${esc(r.reason)}</td><td class="span" data-label="When">${esc(clock(parseTime(r.at)))}</td></tr>`;
    }
    html += "</tbody></table>";
    if (f.recent.length > FAILED_SHOWN) {
      html += `<button type="button" class="linkbtn more" data-testid="failed-more">${view.allFailed ? "Show fewer" : `Show all ${f.recent.length} recent failed rows`}</button>`;
    }
    el.innerHTML = html;
    const more = el.querySelector(".more");
    if (more) more.addEventListener("click", () => { view.allFailed = !view.allFailed; renderFailed(f); });
  }

  function renderTotals(d) {
    const t = d.totals || {};
    const item = (k, v) => `<div><span>${esc(k)}</span><b>${num(v)}</b></div>`;
    $("totals").innerHTML = item("Runs", t.runs) + item("Rows written", t.rows_written) + item("Unchanged", t.rows_unchanged) + item("Deleted", t.rows_deleted) + item("Failed", t.rows_failed);
    const c = d.cursor || {};
    const cursor = $("cursor-line");
    cursor.innerHTML = c.updated_at ? `<span class="mono">${esc(c.key)}</span>` : "not set (nothing synced yet)";
    cursor.title = c.updated_at ? `updated_at ${c.updated_at}, key ${c.key}` : "";
    $("interval").textContent = `every ${duration(d.interval_seconds)}`;
    const ok = (d.recent_runs || []).find((r) => r.status === "completed");
    $("last-ok").textContent = ok && ok.finished_at ? `#${ok.id}, ${clock(parseTime(ok.finished_at))}` : "none yet";
  }

  // ---------- actions ----------
  let msgTimer;
  async function requestSync(full) {
    const msg = $("action-msg");
    const buttons = [$("sync-now"), $("full-resync")];
    buttons.forEach((b) => (b.disabled = true));
    msg.className = "action-msg";
    msg.textContent = full ? "Requesting a full resync…" : "Requesting a sync…";
    const params = new URLSearchParams({ wait: "false" });
    if (full) params.set("full", "true");
    if (view.sync !== DEFAULT_SYNC) params.set("sync", view.sync);
    try {
      const res = await fetch(`/sync-kv-now?${params}`, { method: "POST", headers: authHeaders() });
      const body = await res.json().catch(() => ({}));
      if (res.status === 401) {
        setToken("");
        askForToken(true, body.error ? `The Worker said: “${body.error}”` : "");
        return;
      }
      if (res.status === 403) {
        view.readOnly = true;
        renderReadOnly();
        throw new Error(`this token may not start a sync${body.error ? ` (${body.error})` : ""}`);
      }
      if (!res.ok) throw new Error(`HTTP ${res.status}${body.error ? `: ${body.error}` : ""}`);
      const id = body.run?.id;
      msg.className = "action-msg ok";
      if (body.queued || body.message === "KV sync already running") {
        msg.textContent = `A sync is already running${id ? ` (run #${id})` : ""}; ${full ? "the full resync" : "one follow-up run"} is queued to start right after it.`;
      } else if (body.message === "KV sync completed") {
        msg.textContent = `Sync completed${id ? `: run #${id}` : ""}.`;
      } else {
        msg.textContent = `${full ? "Full resync" : "Sync"} started${id ? `: run #${id}` : ""}.`;
      }
    } catch (err) {
      msg.className = "action-msg bad";
      msg.textContent = `The sync request failed: ${err instanceof TypeError ? "could not reach the Worker" : err.message}`;
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
    clearTimeout(msgTimer);
    msgTimer = setTimeout(() => { msg.textContent = ""; msg.className = "action-msg"; }, 20_000);
    poll();
  }
  $("sync-now").addEventListener("click", () => requestSync(false));
  const dialog = $("confirm");
  $("full-resync").addEventListener("click", () => {
    if (typeof dialog.showModal === "function") dialog.showModal();
    else if (window.confirm("Start a full resync? It re-reads every row from BigQuery.")) requestSync(true);
  });
  dialog.addEventListener("close", () => { if (dialog.returnValue === "full") requestSync(true); dialog.returnValue = ""; });

  // ---------- boot ----------
  if (token()) start();
  else askForToken(false);
})();
