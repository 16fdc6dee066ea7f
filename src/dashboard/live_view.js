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
    loadSyncs(generation);
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

  /** GET /syncs beside /status: the overview of every sync. */
  async function loadSyncs(generation) {
    try {
      const res = await fetch("/syncs", { headers: authHeaders(), cache: "no-store" });
      if (generation !== view.generation && view.syncs) return;
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
    if (a.degraded) episodes.push(["", "Degraded: alerted because the KV bulk API refused requests as a whole; runs write through the binding until it takes them again (see the run's warning)."]);
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

    $("run-cost").textContent = costLine(run.cost);
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
