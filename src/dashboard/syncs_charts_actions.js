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
    const c24 = (d.cost || {}).last_24h || {};
    $("cost-day").textContent = d.cost ? `About ${usd(d.cost.estimated_usd_per_day)} a day at list prices (the last 24 hours' ${num(c24.runs)} runs)` : "";
    $("cost").innerHTML = item("BigQuery billed", c24.bigquery_bytes_billed === null ? "not reported" : bytes(c24.bigquery_bytes_billed)) + item("Cache hits", c24.bigquery_cache_hit) + item("KV writes", c24.kv_writes) + item("KV deletes", c24.kv_deletes) + item("Storage rows written", c24.storage_rows_written);
    const p = d.push || {};
    $("push").innerHTML = item("Received", p.received) + item("Written", p.written) + item("Deleted", p.deleted) + item("Unchanged", p.unchanged) + item("Stale", p.stale) + item("Failed", p.failed);
    $("push-last").textContent = p.last_at ? `Last push ${clock(parseTime(p.last_at))} (${ago(parseTime(p.last_at))})` : "No push received (POST /push, see the README's \"Live sync\")";
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

  // ---------- explain a key ----------
  const KEY_STATES = { written: "written by kv-sync", deleted: "deleted by kv-sync", failed: "set aside among the failed rows", unknown: "never written by kv-sync" };
  function explanation(b) {
    const by = b.written_by === "push" ? " by a push" : b.written_by ? ` by run #${b.run}` : "";
    const when = b.last_written_at ? ` at ${clock(parseTime(b.last_written_at))}` : "";
    const source = b.updated_at ? `; its source row was updated ${b.updated_at}` : "";
    const kv = b.kv.present
      ? (b.kv.matches ? "KV holds what kv-sync wrote" : "KV holds something other than what kv-sync last wrote (changed behind its back, or a write under way)")
      : (b.kv.matches ? "KV holds nothing for it, as it should" : "KV holds nothing for it, though kv-sync wrote it (expired, or deleted behind its back)");
    return `<p data-testid="explain-state"><b class="mono">${esc(b.kv_key)}</b>: ${esc(KEY_STATES[b.state] || b.state)}${esc(by + when + source)}.</p>`
      + (b.failed_reason ? `<p>${esc(b.failed_reason)}</p>` : "")
      + `<p data-testid="explain-kv">${esc(kv)}.</p>`;
  }
  $("explain-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const key = $("explain-key").value;
    if (!key) return;
    const q = syncParam();
    try {
      const res = await fetch(`/keys/${encodeURIComponent(key)}${q ? `?${q}` : ""}`, { headers: authHeaders(), cache: "no-store" });
      const body = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
      $("explain-out").innerHTML = explanation(body);
    } catch (err) {
      $("explain-out").innerHTML = `<p class="bad">Could not explain the key: ${esc(err.message)}</p>`;
    }
  });

  // ---------- boot ----------
  if (token()) start();
  else askForToken(false);
})();
