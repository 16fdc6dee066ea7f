// `make bench`: kv-sync on the local stack (workerd + bqemulator) beside the
// floors measured in the same run, the system it replaces, its memory, and
// how long a change takes to be readable in KV (line L).
// Prints Markdown tables; docs/BENCHMARKS.md keeps a copy. Absolute times
// are shown, never asserted: the ratios are the headline.
import { spawnSync } from "node:child_process";
import { statSync } from "node:fs";
import path from "node:path";
import { allKeys, ROOT, seed, startEmulator, startWorker } from "../e2e/support/stack.mjs";
import { DEFAULT_QUERY } from "../e2e/support/expect.mjs";
import { CONCURRENCY, PUTS_PER_INVOCATION, putFloor, readFloor, recordingProxy, WORKER_CONNECTIONS } from "./floors.mjs";
import { latencyLine } from "./latency.mjs";
import { runReplacedSystem } from "./replaced_system.mjs";
import { importOnce, mib, MiB, oneHugeValueQuery, paddedQuery, seconds, shardedImport, syncToCompletion } from "./scenarios.mjs";

const LEADS = Number(process.env.BENCH_LEADS ?? 100_000);
const SMALL_SCALES = [1_000, 10_000].filter((n) => n < LEADS);
const MEMORY_LEADS = 20_000;
const MEMORY_LIMIT = 64 * MiB;
const SLOW_API_MS = 300;
const ratio = (ms, floorMs, digits = 2) => (ms / floorMs).toFixed(digits);
const step = (what) => console.error(`${new Date().toISOString().slice(11, 19)} ${what}`);
const table = (header, rows) => {
  console.log(`| ${header.join(" | ")} |\n|${header.map(() => "---").join("|")}|`);
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
  console.log("");
};

async function averageValueBytes(kv) {
  const keys = (await allKeys(kv)).slice(0, 200);
  const sizes = await Promise.all(keys.map(async (k) => (await kv.get(k)).length));
  return Math.round(sizes.reduce((a, b) => a + b, 0) / sizes.length);
}

/** The replaced system (with and without the 1,000-operation cap) beside kv-sync, on the seeded leads. */
async function besideReplaced(emulatorUrl, leads, kvSync) {
  step(`replaced system at ${leads} leads…`);
  const capped = await runReplacedSystem(emulatorUrl, { cap: true });
  const uncapped = await runReplacedSystem(emulatorUrl, { cap: false });
  kvSync ??= await importOnce(emulatorUrl);
  return [
    leads,
    `${capped.keys} (${seconds(capped.ms)})`,
    `${uncapped.keys} of a ${uncapped.firstPageRows}-row first page (${seconds(uncapped.ms)})`,
    `${kvSync.keys} (${seconds(kvSync.ms)}, ${kvSync.run.invocations} invocations)`,
  ];
}

/** The wasm high-water mark of 2 KB values and of one 20 MiB value, through each path. */
async function memoryMarks(emulatorUrl) {
  const cases = [
    ["2 KB values", paddedQuery(2_000)],
    ["one 20 MiB value among small ones", oneHugeValueQuery(20 * MiB)],
  ];
  const rows = [];
  for (const [what, query] of cases) {
    for (const [pathName, options] of [["binding", {}], ["bulk", { bulk: {}, vars: { BULK_MIN_ROWS: "0" } }]]) {
      step(`memory: ${what}, ${pathName}…`);
      const r = await importOnce(emulatorUrl, { ...options, vars: { ...options.vars, SYNC_QUERY: query } });
      if (r.keys !== MEMORY_LEADS) throw new Error(`memory run wrote ${r.keys} keys, not ${MEMORY_LEADS}`);
      if (r.run.kv_path !== pathName) throw new Error(`the memory run took the ${r.run.kv_path} path, not ${pathName}`);
      rows.push([what, pathName, mib(r.wasm), r.wasm < MEMORY_LIMIT ? "yes" : "**NO**"]);
    }
  }
  return rows;
}

// D first, on a quiet machine: the stack below keeps both cores busy for a
// while after each part, and D is a CPU measurement.
step("D: engine CPU per row…");
const d = spawnSync("cargo", ["run", "--quiet", "--release", "-p", "kv-sync-core", "--example", "engine_per_row"], { cwd: ROOT, encoding: "utf8" });
const [, perRow, scanUs] = /engine_per_row_us ([\d.]+) json_scan_us ([\d.]+)/.exec(d.stdout) ?? [];
if (!perRow) throw new Error(`the engine_per_row example failed:\n${d.stderr}`);

const emulator = await startEmulator();
try {
  const replaced = [];
  for (const leads of SMALL_SCALES) {
    await seed(emulator.url, ["--reset", "--leads", String(leads), "--events-per-lead", "2", "--seed", "1"]);
    replaced.push(await besideReplaced(emulator.url, leads));
  }

  await seed(emulator.url, ["--reset", "--leads", String(MEMORY_LEADS), "--events-per-lead", "0", "--seed", "1"]);
  const memory = await memoryMarks(emulator.url);

  step(`seeding ${LEADS} leads…`);
  await seed(emulator.url, ["--reset", "--leads", String(LEADS), "--events-per-lead", "2", "--seed", "1"]);

  // The floor's values match the import's in size, taken from the first
  // invocation's values; the same invocation's jobs.query is recorded for
  // the read floor. Two put floors bracket the import, because this
  // machine's speed drifts over minutes.
  step("sizing values, recording the query…");
  const proxy = await recordingProxy(emulator.url);
  const sizing = await startWorker({ vars: { BIGQUERY_API_BASE: proxy.url } });
  await sizing.syncNow();
  const valueBytes = await averageValueBytes(sizing.kv);
  await sizing.dispose();
  await proxy.stop();
  const queryBody = proxy.queries[0];

  step("A: the put floor, before…");
  const floorBefore = await putFloor(LEADS, valueBytes);
  step("B: import through the KV binding…");
  const binding = await startWorker({ vars: { BIGQUERY_API_BASE: emulator.url } });
  const importBinding = await syncToCompletion(binding);
  const bindingKeys = (await allKeys(binding.kv)).length;
  if (bindingKeys !== LEADS) throw new Error("binding import incomplete");
  step("A: the put floor, after…");
  const floorAfter = await putFloor(LEADS, valueBytes);
  const floorMs = (floorBefore + floorAfter) / 2;

  replaced.push(await besideReplaced(emulator.url, LEADS, { ...importBinding, keys: bindingKeys }));

  // Sequential and parallel reads alternate, twice, so drift hits both.
  step("R: the BigQuery read floor, pageToken and startIndex…");
  const reads = { sequential: [], parallel: [] };
  for (let i = 0; i < 2; i++) {
    for (const parallel of [false, true]) {
      const r = await readFloor(emulator.url, queryBody, { parallel });
      if (r.rows !== LEADS) throw new Error(`the read floor read ${r.rows} rows`);
      reads[parallel ? "parallel" : "sequential"].push(r);
    }
  }
  const mean = (runs) => runs.reduce((a, r) => a + r.ms, 0) / runs.length;
  const readMs = mean(reads.sequential);

  step("B: import through the bulk path, counting double…");
  // BULK_MIN_ROWS 0: the bulk path whatever BENCH_LEADS is.
  const bulkFast = await importOnce(emulator.url, { bulk: {}, vars: { BULK_MIN_ROWS: "0" } });
  step(`B: import through the bulk path, ${SLOW_API_MS} ms double…`);
  const bulkSlow = await importOnce(emulator.url, { bulk: { latencyMs: SLOW_API_MS }, vars: { BULK_MIN_ROWS: "0" } });
  for (const b of [bulkFast, bulkSlow]) if (b.keys !== LEADS) throw new Error(`bulk import counted ${b.keys} keys`);

  step("S: four key-range syncs in parallel…");
  const bounds = [1, 2, 3].map((q) => `lead-${String(Math.floor((q * LEADS) / 4) + 1).padStart(6, "0")}`);
  const sharded = await shardedImport(emulator.url, DEFAULT_QUERY, bounds);
  if (sharded.keys !== LEADS) throw new Error(`sharded import wrote ${sharded.keys} keys`);

  step("C: steady state, 1% changed…");
  const seeded = await seed(emulator.url, ["--update-fraction", "0.01", "--leads", "0", "--seed", "1"]);
  const changed = Number(/(\d+) leads updated/.exec(seeded)[1]);
  const steady = await syncToCompletion(binding, "");
  await binding.dispose();

  const wasmBytes = statSync(path.join(ROOT, "build/index_bg.wasm")).size;
  table(["", "measure", "time", "÷ A", "÷ R"], [
    ["A", `put floor: ${LEADS} raw KV puts (${valueBytes} B values, concurrency ${CONCURRENCY}, ${PUTS_PER_INVOCATION}/invocation); mean of ${seconds(floorBefore)} before B and ${seconds(floorAfter)} after`, seconds(floorMs), "1.00", ""],
    ["R", `read floor: a bare client pages through kv-sync's query (${reads.sequential[0].pages} pages by pageToken); mean of ${reads.sequential.map((r) => seconds(r.ms)).join(", ")}`, seconds(readMs), "", "1.00"],
    ["R", `the same pages by startIndex, ${WORKER_CONNECTIONS} at a time; mean of ${reads.parallel.map((r) => seconds(r.ms)).join(", ")}`, seconds(mean(reads.parallel)), "", ratio(mean(reads.parallel), readMs)],
    ["B", `import ${LEADS} leads, KV binding (${importBinding.run.invocations} invocations, ${importBinding.run.bigquery_jobs} job)`, seconds(importBinding.ms), ratio(importBinding.ms, floorMs), ratio(importBinding.ms, readMs)],
    ["B", `import ${LEADS} leads, bulk path, counting double (${bulkFast.bulkRequests} requests, ${bulkFast.run.invocations} invocations, wasm ${mib(bulkFast.wasm)})`, seconds(bulkFast.ms), "", ratio(bulkFast.ms, readMs)],
    ["B", `import ${LEADS} leads, bulk path, double answering after ${SLOW_API_MS} ms (${bulkSlow.bulkRequests} requests, ${bulkSlow.run.invocations} invocations)`, seconds(bulkSlow.ms), "", ratio(bulkSlow.ms, readMs)],
    ["S", `the same ${LEADS} leads as 4 key-range syncs in parallel, KV binding (one sync: B)`, seconds(sharded.ms), ratio(sharded.ms, floorMs), `${ratio(sharded.ms, importBinding.ms)} of B`],
    ["C", `steady state, ${changed} changed: ${steady.run.rows_written} KV writes, ${steady.run.bigquery_jobs} BigQuery job, path ${steady.run.kv_path}`, seconds(steady.ms), ratio(steady.ms, floorMs, 3), ""],
    ["D", `engine CPU per row, native (page JSON → f/v decode → type → serialise → hash, 10,000-row pages); serde_json only skimming the same text takes ${scanUs} µs`, `${perRow} µs`, "", ""],
    ["D", "wasm size (build/index_bg.wasm)", `${(wasmBytes / 1024).toFixed(0)} KiB`, "", ""],
  ]);
  const ok = steady.run.rows_written === changed && steady.run.bigquery_jobs === 1;
  console.log(`C check: KV writes ${steady.run.rows_written} = changed rows ${changed}, BigQuery jobs ${steady.run.bigquery_jobs} = 1: ${ok ? "yes" : "NO"}\n`);

  console.log("The replaced system beside kv-sync: rows in KV after one trigger, and the time\n");
  table(["leads", "replaced, 1,000-operation cap", "replaced, no cap", "kv-sync (binding)"], replaced);

  console.log(`wasm memory high-water mark (the largest \`wasm_memory_bytes\` logged), ${MEMORY_LEADS} leads, each on a fresh isolate\n`);
  table(["values", "path", "high-water", `under ${mib(MEMORY_LIMIT)}`], memory);

  // L last: about ten minutes, most of it waiting out one 300 s interval;
  // it prints its own tables (tests/bench/latency.mjs).
  step("L: latency, a change to a value readable in KV (about 10 minutes)…");
  await latencyLine(emulator.url);
} finally {
  await emulator.stop();
}
