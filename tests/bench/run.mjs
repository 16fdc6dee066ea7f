// `make bench`: the 100,000-lead import and the steady state on the local
// stack (workerd + bqemulator), side by side with the floor measured in the
// same run. Prints a Markdown table; docs/BENCHMARKS.md keeps a copy.
// Absolute times are shown, never asserted; the ratios are the headline.
import { spawnSync } from "node:child_process";
import { statSync } from "node:fs";
import path from "node:path";
import { Miniflare } from "miniflare";
import { allKeys, ROOT, seed, startEmulator, startWorker, waitFor } from "../e2e/support/stack.mjs";
import { startKvBulkApi } from "../e2e/support/cloudflare.mjs";

const LEADS = Number(process.env.BENCH_LEADS ?? 100_000);
const PUTS_PER_INVOCATION = 1_000;
const CONCURRENCY = 32; // the binding sink's concurrency (src/kv/binding.rs)
const seconds = (ms) => (ms / 1000).toFixed(1);

// A Worker that only puts: the floor for any import through the binding.
const FLOOR_WORKER = `
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const from = Number(url.searchParams.get("from"));
    const count = Number(url.searchParams.get("count"));
    const value = "x".repeat(Number(url.searchParams.get("size")));
    const metadata = { updated_at: "2026-11-28T00:00:00.000000Z", synced_at: "2026-11-28T00:00:00.000000Z" };
    let next = 0;
    await Promise.all(Array.from({ length: ${CONCURRENCY} }, async () => {
      for (let i = next++; i < count; i = next++) await env.KV.put("lead-" + (from + i), value, { metadata });
    }));
    return new Response("ok");
  },
};`;

async function floor(rows, valueBytes) {
  const mf = new Miniflare({ modules: true, script: FLOOR_WORKER, kvNamespaces: ["KV"], compatibilityDate: "2026-07-28" });
  await mf.ready;
  const start = Date.now();
  for (let from = 0; from < rows; from += PUTS_PER_INVOCATION) {
    const count = Math.min(PUTS_PER_INVOCATION, rows - from);
    const r = await mf.dispatchFetch(`http://floor/?from=${from}&count=${count}&size=${valueBytes}`);
    if (!r.ok) throw new Error(`floor worker: ${r.status} ${await r.text()}`);
  }
  const ms = Date.now() - start;
  await mf.dispose();
  return ms;
}

async function syncToCompletion(worker, query = "?wait=false") {
  const start = Date.now();
  const { body } = await worker.syncNow(query);
  const run = await waitFor(async () => {
    const { body: s } = await worker.status();
    return s.last_run?.id === body.run.id && s.last_run;
  }, { timeoutMs: 3_600_000, everyMs: 250, what: `run ${body.run.id}` });
  if (run.status !== "completed") throw new Error(`run ${run.id} failed: ${run.error}`);
  return { ms: Date.now() - start, run };
}

async function averageValueBytes(kv) {
  const keys = (await allKeys(kv)).slice(0, 200);
  const sizes = await Promise.all(keys.map(async (k) => (await kv.get(k)).length));
  return Math.round(sizes.reduce((a, b) => a + b, 0) / sizes.length);
}

// D first, on a quiet machine: the stack below keeps both cores busy for a
// while after each part, and D is a CPU measurement.
console.error("D: engine CPU per row, wasm size…");
const d = spawnSync("cargo", ["run", "--quiet", "--release", "--example", "engine_per_row"], { cwd: ROOT, encoding: "utf8" });
const [, perRow, scanUs] = /engine_per_row_us ([\d.]+) json_scan_us ([\d.]+)/.exec(d.stdout) ?? [];
if (!perRow) throw new Error(`the engine_per_row example failed:\n${d.stderr}`);

const emulator = await startEmulator();
try {
  console.error(`seeding ${LEADS} leads…`);
  await seed(emulator.url, ["--reset", "--leads", String(LEADS), "--events-per-lead", "2", "--seed", "1"]);

  // The floor's values match the import's in size, taken from the first
  // invocation's values; two floor runs bracket the import, because this
  // machine's speed drifts over minutes.
  console.error("sizing values…");
  const sizing = await startWorker({ vars: { BIGQUERY_API_BASE: emulator.url } });
  await sizing.syncNow();
  const valueBytes = await averageValueBytes(sizing.kv);
  await sizing.dispose();

  console.error("A: the floor (raw puts from a Worker), before…");
  const floorBefore = await floor(LEADS, valueBytes);

  console.error("B: import through the KV binding…");
  const binding = await startWorker({ vars: { BIGQUERY_API_BASE: emulator.url } });
  const importBinding = await syncToCompletion(binding);
  if ((await allKeys(binding.kv)).length !== LEADS) throw new Error("binding import incomplete");

  console.error("A: the floor, after…");
  const floorAfter = await floor(LEADS, valueBytes);
  const floorMs = (floorBefore + floorAfter) / 2;

  console.error("C: steady state, 1% changed…");
  const seeded = await seed(emulator.url, ["--update-fraction", "0.01", "--leads", "0", "--seed", "1"]);
  const changed = Number(/(\d+) leads updated/.exec(seeded)[1]);
  const steady = await syncToCompletion(binding, "");
  await binding.dispose();

  console.error("B: import through the bulk REST path (local double)…");
  const bulk = await startKvBulkApi();
  const bulkWorker = await startWorker({ vars: { BIGQUERY_API_BASE: emulator.url, ...bulk.vars } });
  bulk.attach(bulkWorker.kv);
  const importBulk = await syncToCompletion(bulkWorker);
  await bulkWorker.dispose();
  await bulk.stop();

  const wasmBytes = statSync(path.join(ROOT, "build/index_bg.wasm")).size;

  const rows = [
    ["A", `floor: ${LEADS} raw KV puts (${valueBytes} B values, concurrency ${CONCURRENCY}, ${PUTS_PER_INVOCATION}/invocation); mean of ${seconds(floorBefore)} s before B and ${seconds(floorAfter)} s after`, `${seconds(floorMs)} s`, "1.00"],
    ["B", `import ${LEADS} leads, KV binding (${importBinding.run.invocations} invocations, ${importBinding.run.bigquery_jobs} job)`, `${seconds(importBinding.ms)} s`, (importBinding.ms / floorMs).toFixed(2)],
    ["B", `import ${LEADS} leads, bulk REST double (${importBulk.run.invocations} invocations)`, `${seconds(importBulk.ms)} s`, (importBulk.ms / floorMs).toFixed(2)],
    ["C", `steady state, ${changed} changed: ${steady.run.rows_written} KV writes, ${steady.run.bigquery_jobs} BigQuery job`, `${seconds(steady.ms)} s`, (steady.ms / floorMs).toFixed(3)],
    ["D", `engine CPU per row, native (page JSON → f/v decode → type → serialise → hash, 10,000-row pages); serde_json only skimming the same text takes ${scanUs} µs`, `${perRow} µs`, ""],
    ["D", "wasm size (build/index_bg.wasm)", `${(wasmBytes / 1024).toFixed(0)} KiB`, ""],
  ];
  console.log("| | measure | time | ÷ A |\n|---|---|---|---|");
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
  const ok = steady.run.rows_written === changed && steady.run.bigquery_jobs === 1;
  console.log(`\nC check: KV writes ${steady.run.rows_written} = changed rows ${changed}, BigQuery jobs ${steady.run.bigquery_jobs} = 1: ${ok ? "yes" : "NO"}`);
} finally {
  await emulator.stop();
}
