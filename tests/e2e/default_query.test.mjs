// Issue #16, item 5 (cost per run): sql/default_query.sql prunes with @since
// (it builds records only for the leads that changed or whose visitor came
// back), and that must change no result. tools/bqemu/compare_default_query.py
// runs it and the unpruned reference query, both wrapped as kv-sync wraps
// them, at many @since values on data with a batch of updates, revisits and
// new leads plus the edge cases the seeder cannot make, and compares every
// cell of every row.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { after, before, test } from "node:test";
import { ROOT, bigQuery, seed, startEmulator } from "./support/stack.mjs";

const SECOND = 1000;
let emulator;

before(async () => {
  emulator = await startEmulator();
});
after(async () => {
  await emulator?.stop();
});

/** RFC 3339 with microseconds, as BigQuery prints a TIMESTAMP. */
const iso = (ms, micros = 0) => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, (_, m) => `.${m}${String(micros).padStart(3, "0")}Z`);

async function compare(args) {
  const child = spawn(path.join(ROOT, ".venv/bin/python"),
    [path.join(ROOT, "tools/bqemu/compare_default_query.py"), "--api", emulator.url, "--project", "demo", "--json", ...args],
    { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const [code] = await once(child, "exit");
  assert.equal(code, 0, `compare_default_query.py failed:\n${out}`);
  return JSON.parse(out.trim().split("\n").at(-1));
}

test("the pruned default query returns exactly what the unpruned one does, at every @since", { timeout: 180_000 }, async () => {
  // History up to t0, then a batch at t1: 5% of the leads updated, 5% of the
  // visitors back, 50 new leads.
  const t1 = Math.floor(Date.now() / SECOND) * SECOND - 2 * 3600 * SECOND;
  const t0 = t1 - 3600 * SECOND;
  await seed(emulator.url, ["--reset", "--leads", "2000", "--events-per-lead", "3", "--seed", "7",
    "--anonymous-events", "300", "--now", iso(t0)]);
  await seed(emulator.url, ["--start-id", "2001", "--leads", "50", "--update-fraction", "0.05",
    "--revisit-fraction", "0.05", "--seed", "7", "--now", iso(t1)]);
  const [batch] = await bigQuery(emulator.url,
    `SELECT COUNTIF(updated_at = TIMESTAMP '${iso(t1)}') AS updated_or_new,
            (SELECT COUNT(*) FROM outbound_sales.events WHERE _insertedAt > TIMESTAMP '${iso(t0)}') AS revisit_events
     FROM outbound_sales.leads`);
  assert.ok(Number(batch.updated_or_new) >= 100, JSON.stringify(batch));
  assert.ok(Number(batch.revisit_events) >= 300, JSON.stringify(batch));

  const points = {
    monthBefore: iso(t0 - 30 * 86400 * SECOND),
    beforeBatch: iso(t1 - 600 * SECOND),
    atBatch: iso(t1),
    afterBatch: iso(t1, 1),
  };
  const summary = await compare(["--edge-cases", ...Object.values(points).flatMap((s) => ["--since", s])]);

  // The data held every case the pruning has to get right.
  for (const [what, n] of Object.entries(summary.coverage)) assert.ok(n > 0, `test data has no ${what}`);
  // Every point was compared, from the full read to the present.
  const bySince = new Map(summary.since.map((s) => [s.since, s]));
  for (const since of ["0001-01-01T00:00:00.000000Z", ...Object.values(points)]) assert.ok(bySince.has(since), since);
  assert.ok(summary.since.length >= 12, `only ${summary.since.length} @since values`);
  assert.ok(summary.rows_compared > 5000, `only ${summary.rows_compared} rows compared`);
  assert.ok(summary.resume?.rows > 0, "the resumed read returned rows");
  // A full read still builds every record; a run after the batch builds few.
  const full = bySince.get("0001-01-01T00:00:00.000000Z");
  assert.equal(full.records_built, full.reference_records_built);
  const before = bySince.get(points.beforeBatch);
  assert.ok(before.rows >= 200, `the batch is in the window: ${JSON.stringify(before)}`);
  const late = bySince.get(points.afterBatch);
  assert.ok(late.records_built < late.reference_records_built / 20,
    `pruning builds few records after the batch: ${JSON.stringify(late)}`);
});
