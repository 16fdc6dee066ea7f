// Line L of `make bench`: how long a change in the source takes to become a
// value readable in KV, on the local stack (workerd through Miniflare, the
// bqemulator BigQuery emulator), beside the floor measured in the same run.
//
// - Polling at SYNC_INTERVAL_SECONDS 10: 60 rows, one at a time, each
//   inserted at a random moment between the end of the run that wrote the
//   row before it and the next scheduled run (`next_sync_at`), so the
//   moments fall uniformly across the interval; each is timed from the
//   moment its INSERT returned (the row is in the source) until
//   `kv.get(key)`, polled every 20 ms, finds it.
// - Polling at SYNC_INTERVAL_SECONDS 300: the same 20 samples one at a time
//   would take 20 intervals (100 minutes). Instead all 20 rows are inserted
//   at random moments across one interval, each timed the same way, and the
//   run that follows reads them all: the waits are 20 independent samples,
//   the run's own time is one sample shared by all 20 (about 5 minutes in
//   all). For a moment uniform in an interval I the expectation is
//   p50 ≈ I/2 + the run, p99 ≈ 0.99·I + the run; the table prints the run's
//   part beside the measured figures so the two can be compared.
// - Push: 30 POST /push deliveries of one row each (a fresh key each, a
//   Google-style OIDC token from the test double, minted before the clock
//   starts), timed from the start of the POST until its answer; the route
//   writes before it answers, so the value is then read once to confirm it
//   is there (were it not, the read would be polled and that time counted).
//   One warm-up push goes first and is not counted: it fetches the signing
//   keys (the JWKS), which a running Worker keeps as their Cache-Control
//   allows.
// - The floors, measured first on a quiet stack: one bare `SELECT 1` through
//   `jobs.query` on the emulator and one bare KV put made by a request to a
//   Worker that does nothing else (tests/bench/floors.mjs), each the median
//   of 20. The polling rows' floor is the two together (a run reads
//   BigQuery, then writes KV); the push row's floor is the put alone (the
//   push route reads no BigQuery).
//
// p50 and p99 are nearest-rank percentiles: p99 of fewer than 100 samples is
// the largest one. Times are shown, never asserted; the targets (polling at
// 10 s: p50 ≤ 6 s; push: p50 ≤ 250 ms) are printed as met or not met.
//
// `node tests/bench/latency.mjs` runs this line alone with its own emulator
// (after `make build`: it starts build/index.js); tests/bench/run.mjs calls
// latencyLine() last.
import { deepStrictEqual } from "node:assert";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { sleep, startEmulator, startWorker, waitFor } from "../e2e/support/stack.mjs";
import { at, sourceTable, valueOf } from "../e2e/support/table.mjs";
import { envelope, push, startOidc, toJsonString } from "../e2e/support/oidc.mjs";
import { onePutLatencies, selectOneLatencies } from "./floors.mjs";
import { syncToCompletion } from "./scenarios.mjs";

const POLL_MS = 20;
const POLLING_SAMPLES = 20;
// The median of 20 waits uniform over 10 s moves by about a second from run
// to run (20 gave 7.14 s once, with every run starting on time): the fast
// tier, one interval a sample, takes 60 (about 6 minutes).
const FAST_SAMPLES = 60;
const PUSH_SAMPLES = 30;
const FLOOR_SAMPLES = 20;
const FAST_INTERVAL_S = 10;
const SLOW_INTERVAL_S = 300;
const TARGETS = { pollingP50Ms: 6_000, pushP50Ms: 250 };

const step = (what) => console.error(`${new Date().toISOString().slice(11, 19)} L: ${what}`);
const table = (header, rows) => {
  console.log(`| ${header.join(" | ")} |\n|${header.map(() => "---").join("|")}|`);
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
  console.log("");
};

/** Nearest-rank percentile: the smallest sample with at least p % of the samples at or below it. */
export function percentile(samples, p) {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

const duration = (ms) => (ms >= 1_000 ? `${(ms / 1_000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);

/**
 * Waits until the last run has ended and the next one is scheduled; returns
 * when that is (`next_sync_at`, ms since the epoch).
 */
async function nextScheduledRun(worker) {
  return waitFor(async () => {
    const { body } = await worker.status();
    if (body.state === "failing") throw new Error(`the sync is failing: ${body.last_run?.error}`);
    const next = Date.parse(body.next_sync_at ?? "");
    return body.state === "idle" && next > Date.now() ? next : false;
  }, { timeoutMs: 120_000, everyMs: 50, what: "the run to end and the next one to be scheduled" });
}

/**
 * Polls KV every POLL_MS until every key in `pending` (key → {t0, wall}) is
 * readable, while `inserting` (a promise) may still add keys. Only the oldest
 * pending key is read each tick (a run that writes it writes every key
 * inserted before it); when it is there, every pending key is read. Returns
 * [{key, ms, wall}] in the order they became readable.
 */
async function watchUntilReadable(kv, pending, inserting, timeoutMs) {
  let inserted = false;
  let insertError = null;
  inserting.then(() => { inserted = true; }, (e) => { insertError = e; });
  const readable = [];
  const deadline = performance.now() + timeoutMs;
  while (!(inserted && pending.size === 0)) {
    if (insertError) throw insertError;
    if (performance.now() > deadline) throw new Error(`not readable in KV after ${timeoutMs} ms: ${[...pending.keys()].join(", ")}`);
    const oldest = pending.keys().next().value;
    if (oldest !== undefined && (await kv.get(oldest)) !== null) {
      const keys = [...pending.keys()];
      const values = await Promise.all(keys.map((k) => kv.get(k)));
      const now = performance.now();
      keys.forEach((key, i) => {
        if (values[i] === null) return;
        const { t0, wall } = pending.get(key);
        readable.push({ key, ms: now - t0, wall });
        pending.delete(key);
      });
    }
    await sleep(POLL_MS);
  }
  return readable;
}

/** A fresh source table with one row, and a Worker syncing it whose first (full) run has completed. */
async function syncedSource(emulatorUrl, vars = {}) {
  const table = await sourceTable(emulatorUrl);
  await table.insert([{ key: "seed", updated_at: at(-60), name: "seed", visits: 1 }]);
  const worker = await startWorker({ vars: { BIGQUERY_API_BASE: emulatorUrl, SYNC_QUERY: table.query, ...vars } });
  try {
    await syncToCompletion(worker, "");
  } catch (e) {
    await worker.dispose();
    throw e;
  }
  return { table, worker };
}

const sourceRow = (key, i) => ({ key, updated_at: at(), name: `name-${key}`, visits: i });

/** Inserts one row and returns when its INSERT returned, on both clocks. */
async function insertRow(table, row) {
  await table.insert([row]);
  return { t0: performance.now(), wall: Date.now() };
}

/**
 * Polling, one sample at a time: each row inserted at a random moment
 * before the next scheduled run. Returns each latency and the part of it
 * that came after the scheduled run start (the run's own time).
 */
async function pollingOneAtATime(emulatorUrl, intervalS, samples) {
  const { table, worker } = await syncedSource(emulatorUrl, { SYNC_INTERVAL_SECONDS: String(intervalS) });
  try {
    const latencies = [];
    const runParts = [];
    for (let i = 0; i < samples; i++) {
      const next = await nextScheduledRun(worker);
      await sleep(Math.random() * Math.max(0, next - Date.now()));
      const key = `poll${intervalS}-${i}`;
      const pending = new Map([[key, await insertRow(table, sourceRow(key, i))]]);
      const [{ ms, wall }] = await watchUntilReadable(worker.kv, pending, Promise.resolve(), 2 * intervalS * 1_000 + 60_000);
      latencies.push(ms);
      runParts.push(ms - Math.max(0, next - wall));
    }
    return { latencies, runParts };
  } finally {
    await worker.dispose();
  }
}

/**
 * Polling, all samples within one interval: rows inserted at random moments
 * between the end of one run and the next scheduled one, all read by the
 * run that follows (a row whose INSERT ends after that run read the source
 * waits for the next: up to two intervals).
 */
async function pollingWithinOneInterval(emulatorUrl, intervalS, samples) {
  const { table, worker } = await syncedSource(emulatorUrl, { SYNC_INTERVAL_SECONDS: String(intervalS) });
  try {
    const next = await nextScheduledRun(worker);
    const origin = Date.now();
    const offsets = Array.from({ length: samples }, () => Math.random() * (next - origin)).sort((a, b) => a - b);
    const pending = new Map();
    const inserting = (async () => {
      for (const [i, offset] of offsets.entries()) {
        await sleep(origin + offset - Date.now());
        const key = `poll${intervalS}-${i}`;
        pending.set(key, await insertRow(table, sourceRow(key, i)));
      }
    })();
    const readable = await watchUntilReadable(worker.kv, pending, inserting, 2 * intervalS * 1_000 + 120_000);
    return {
      latencies: readable.map((r) => r.ms),
      runParts: readable.map((r) => r.ms - Math.max(0, next - r.wall)),
    };
  } finally {
    await worker.dispose();
  }
}

/**
 * Push: one row per POST /push, each a fresh key, after a completed pull
 * (before one, /push answers 503). Returns each latency, the size of the
 * message, how many values were not readable as soon as the POST answered,
 * and the size of a value in KV (for the put floor).
 */
async function pushLatencies(emulatorUrl, samples) {
  const oidc = await startOidc();
  let worker;
  try {
    ({ worker } = await syncedSource(emulatorUrl, oidc.vars));
    const timedPush = async (row) => {
      // What Pub/Sub sends: the row as TO_JSON_STRING renders it, in its envelope.
      const body = JSON.stringify(envelope(toJsonString(row)));
      const token = oidc.mint();
      const start = performance.now();
      const answer = await push(worker, body, token);
      const answered = performance.now() - start;
      if (answer.status < 200 || answer.status > 299) {
        throw new Error(`POST /push of ${row.key}: ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`);
      }
      let value = await worker.kv.get(row.key);
      if (value !== null) return { ms: answered, late: false, value };
      const [{ ms }] = await watchUntilReadable(worker.kv, new Map([[row.key, { t0: start, wall: 0 }]]), Promise.resolve(), 10_000);
      value = await worker.kv.get(row.key);
      return { ms, late: true, value };
    };
    await timedPush(sourceRow("push-warm-up", 0));
    const latencies = [];
    let late = 0;
    let valueBytes = 0;
    for (let i = 0; i < samples; i++) {
      const row = sourceRow(`push-${i}`, i);
      const r = await timedPush(row);
      deepStrictEqual(JSON.parse(r.value), valueOf(row), `the value pushed for ${row.key}`);
      latencies.push(r.ms);
      if (r.late) late += 1;
      valueBytes = Buffer.byteLength(r.value);
    }
    const messageBytes = Buffer.byteLength(toJsonString(sourceRow("push-0", 0)));
    return { latencies, late, messageBytes, valueBytes };
  } finally {
    await worker?.dispose();
    await oidc.stop();
  }
}

const median = (samples) => percentile(samples, 50);

/**
 * Measures line L on the emulator at `emulatorUrl`, prints its tables and
 * returns the figures. Takes about ten minutes, most of it one 300 s interval.
 */
export async function latencyLine(emulatorUrl) {
  step("floors: bare SELECT 1, bare KV put…");
  const queryFloor = median(await selectOneLatencies(emulatorUrl, FLOOR_SAMPLES));
  // Values of the size kv-sync writes for the rows below.
  const valueBytes = Buffer.byteLength(JSON.stringify(valueOf(sourceRow("push-0", 0))));
  const putFloor = median(await onePutLatencies(FLOOR_SAMPLES, valueBytes));
  const pollingFloor = queryFloor + putFloor;

  step(`push: ${PUSH_SAMPLES} POST /push…`);
  const push = await pushLatencies(emulatorUrl, PUSH_SAMPLES);

  step(`polling every ${FAST_INTERVAL_S} s: ${FAST_SAMPLES} inserts, one at a time (about ${Math.round((FAST_SAMPLES * FAST_INTERVAL_S) / 60)} minutes)…`);
  const fast = await pollingOneAtATime(emulatorUrl, FAST_INTERVAL_S, FAST_SAMPLES);

  step(`polling every ${SLOW_INTERVAL_S} s: ${POLLING_SAMPLES} inserts within one interval (about ${Math.round(SLOW_INTERVAL_S / 60)} minutes)…`);
  const slow = await pollingWithinOneInterval(emulatorUrl, SLOW_INTERVAL_S, POLLING_SAMPLES);

  const row = (scenario, latencies, floor) => {
    const p50 = percentile(latencies, 50);
    const ratio = p50 / floor;
    return [scenario, duration(p50), duration(percentile(latencies, 99)), duration(floor), ratio.toFixed(ratio < 10 ? 1 : 0)];
  };
  const fastP50 = percentile(fast.latencies, 50);
  const pushP50 = percentile(push.latencies, 50);
  const figures = {
    floors: { queryMs: queryFloor, putMs: putFloor },
    polling: { [FAST_INTERVAL_S]: fast, [SLOW_INTERVAL_S]: slow },
    push,
    targets: { pollingMet: fastP50 <= TARGETS.pollingP50Ms, pushMet: pushP50 <= TARGETS.pushP50Ms },
  };

  console.log(`L. Latency: a change in the source to a value readable in KV (floors: bare SELECT 1 ${duration(queryFloor)}, bare KV put ${duration(putFloor)}, medians of ${FLOOR_SAMPLES})\n`);
  table(["scenario", "p50", "p99", "floor", "p50 ÷ floor"], [
    row(`polling, SYNC_INTERVAL_SECONDS ${FAST_INTERVAL_S}: ${fast.latencies.length} inserts, one at a time, each at a random moment before the next run (the run's own part: p50 ${duration(median(fast.runParts))}); floor: query + put`, fast.latencies, pollingFloor),
    row(`polling, SYNC_INTERVAL_SECONDS ${SLOW_INTERVAL_S}: ${slow.latencies.length} inserts at random moments across one interval, read by one run (its part: ${duration(median(slow.runParts))}; expected for uniform moments: p50 ≈ ${SLOW_INTERVAL_S / 2} s + run, p99 ≈ ${(0.99 * SLOW_INTERVAL_S).toFixed(0)} s + run); floor: query + put`, slow.latencies, pollingFloor),
    row(`push: ${push.latencies.length} POST /push of one row (${push.messageBytes} B message, ${push.valueBytes} B value), token verified, KV write acknowledged before the answer${push.late ? `; ${push.late} not readable at the answer` : ""}; floor: put`, push.latencies, putFloor),
  ]);
  table(["target", "p50", "met"], [
    [`polling at ${FAST_INTERVAL_S} s: p50 ≤ ${duration(TARGETS.pollingP50Ms)}`, duration(fastP50), figures.targets.pollingMet ? "met" : "**not met**"],
    [`push: p50 ≤ ${duration(TARGETS.pushP50Ms)}`, duration(pushP50), figures.targets.pushMet ? "met" : "**not met**"],
  ]);
  return figures;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const emulator = await startEmulator();
  try {
    await latencyLine(emulator.url);
  } finally {
    await emulator.stop();
  }
}
