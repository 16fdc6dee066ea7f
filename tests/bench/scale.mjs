// `make bench-scale`: a 1,000,000-lead import through the bulk path against
// the counting double, beside the BigQuery read floor of the same query in
// the same run; the wasm high-water mark and the coordinator's SQLite bytes
// per key; then a full run with nothing changed and the SQLite rows it wrote
// and read (a full run should write rows for what changed, not per key held).
// Long (seeding alone takes minutes), so apart from `make bench`.
import { seed, startEmulator, startWorker } from "../e2e/support/stack.mjs";
import { readFloor, recordingProxy } from "./floors.mjs";
import { importOnce, mib, seconds, syncToCompletion } from "./scenarios.mjs";

const LEADS = Number(process.env.BENCH_SCALE_LEADS ?? 1_000_000);
const step = (what) => console.error(`${new Date().toISOString().slice(11, 19)} ${what}`);

const emulator = await startEmulator();
try {
  step(`seeding ${LEADS} leads (1 event each)…`);
  await seed(emulator.url, ["--reset", "--leads", String(LEADS), "--events-per-lead", "1", "--seed", "3"]);

  step("recording kv-sync's query…");
  const proxy = await recordingProxy(emulator.url);
  const probe = await startWorker({ vars: { BIGQUERY_API_BASE: proxy.url, MAX_KV_WRITES_PER_INVOCATION: "1" } });
  await probe.syncNow();
  await probe.dispose();
  await proxy.stop();

  step("R: the read floor…");
  const before = await readFloor(emulator.url, proxy.queries[0]);
  step("B: the bulk import…");
  const fullAgain = (worker) => syncToCompletion(worker, "?wait=false&full=true");
  const run = await importOnce(emulator.url, { bulk: {}, afterwards: fullAgain });
  step("R: the read floor, again…");
  const after = await readFloor(emulator.url, proxy.queries[0]);
  for (const r of [before, after]) if (r.rows !== LEADS) throw new Error(`the read floor read ${r.rows} rows`);
  if (run.keys !== LEADS) throw new Error(`the import counted ${run.keys} keys`);
  const readMs = (before.ms + after.ms) / 2;

  const storage = run.status.storage_bytes;
  console.log("| measure | value |\n|---|---|");
  console.log(`| read floor: ${before.pages} pages by pageToken (mean of ${seconds(before.ms)} before and ${seconds(after.ms)} after) | ${seconds(readMs)} |`);
  console.log(`| import of ${LEADS} leads, bulk path, counting double (${run.bulkRequests} requests, ${run.run.invocations} invocations) | ${seconds(run.ms)} (${(run.ms / readMs).toFixed(2)} × R) |`);
  console.log(`| wasm memory high-water mark | ${mib(run.wasm)} |`);
  console.log(`| coordinator SQLite after the import | ${mib(storage)}, ${(storage / LEADS).toFixed(1)} B per key |`);
  const full = run.after.run;
  if (full.cost.kv_writes !== 0 || full.cost.kv_deletes !== 0) throw new Error(`a full run with nothing changed wrote to KV: ${JSON.stringify(full.cost)}`);
  console.log(`| full run over ${LEADS} unchanged keys: SQLite rows written / read (${full.invocations} invocations, ${seconds(run.after.ms)}) | ${full.cost.storage_rows_written} / ${full.cost.storage_rows_read} |`);
} finally {
  await emulator.stop();
}
