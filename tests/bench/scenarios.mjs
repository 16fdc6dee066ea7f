// kv-sync runs the benchmark times: a fresh Worker (a fresh isolate, so its
// wasm memory starts small), one trigger, until `/status` shows the run
// ended; and the queries that make values of a chosen size.
import { allKeys, startWorker, waitFor } from "../e2e/support/stack.mjs";
import { startKvBulkApi } from "../e2e/support/cloudflare.mjs";

export const MiB = 1024 * 1024;

/** The lead table with every value padded to about `bytes`. */
export const paddedQuery = (bytes) =>
  `SELECT trackingId AS key, COALESCE(updated_at, inserted_at) AS updated_at, ` +
  `CONCAT(trackingId, REPEAT('x', ${bytes})) AS payload FROM outbound_sales.leads`;

/** The lead table with one value of `bytes` (lead-000001's) and the rest small. */
export const oneHugeValueQuery = (bytes) =>
  `SELECT trackingId AS key, COALESCE(updated_at, inserted_at) AS updated_at, ` +
  `IF(trackingId = 'lead-000001', REPEAT('x', ${bytes}), trackingId) AS payload FROM outbound_sales.leads`;

/** The default sync's rows whose key is in [from, to) (either end open when null). */
export const keyRange = (from, to) =>
  [from && `key >= '${from}'`, to && `key < '${to}'`].filter(Boolean).join(" AND ") || "TRUE";

/** Starts a run in the background on `worker` and waits for it to end. */
export async function syncToCompletion(worker, query = "?wait=false", sync = null) {
  const suffix = sync ? `${query}${query ? "&" : "?"}sync=${sync}` : query;
  const start = Date.now();
  const { status, body } = await worker.syncNow(suffix);
  if (status >= 300) throw new Error(`POST /sync-kv-now${suffix}: ${status} ${JSON.stringify(body)}`);
  const statusQuery = sync ? `?sync=${sync}` : "";
  const run = await waitFor(async () => {
    const { body: s } = await worker.status(statusQuery);
    return s.last_run?.id === body.run.id && s.last_run;
  }, { timeoutMs: 3_600_000, everyMs: 250, what: `run ${body.run.id}` });
  if (run.status !== "completed") throw new Error(`run ${run.id} failed: ${run.error}`);
  return { ms: Date.now() - start, run };
}

/** The largest `wasm_memory_bytes` the Worker logged at the end of an invocation. */
export const wasmHighWater = (worker) =>
  Math.max(0, ...worker.events().map((e) => e.wasm_memory_bytes ?? 0));

/**
 * One import on a fresh Worker. `bulk`: null (the binding only) or the
 * bulk double's options (`{ latencyMs }`; it checks and counts, never
 * stores). Returns the time, the run, the keys KV holds (or the double
 * counted), the wasm high-water mark, `/status`, and what `afterwards`
 * (given the Worker, once the import is measured) returned.
 */
export async function importOnce(emulatorUrl, { vars = {}, bulk = null, afterwards = null } = {}) {
  const api = bulk && await startKvBulkApi({ store: false, ...bulk });
  const worker = await startWorker({ vars: { BIGQUERY_API_BASE: emulatorUrl, ...vars, ...(api?.vars ?? {}) } });
  try {
    const { ms, run } = await syncToCompletion(worker);
    const keys = api ? api.counted.size : (await allKeys(worker.kv)).length;
    if (api?.problems.length) throw new Error(`the bulk double found problems: ${api.problems.slice(0, 3).join("; ")}`);
    const { body: status } = await worker.status();
    const wasm = wasmHighWater(worker);
    const after = afterwards && await afterwards(worker);
    return { ms, run, keys, wasm, status, bulkRequests: api?.requests.length ?? 0, after };
  } finally {
    await worker.dispose();
    await api?.stop();
  }
}

/**
 * The same source as one sync and as `n` key-range syncs in parallel on one
 * Worker, through the binding. `bounds`: the n-1 keys between the ranges.
 * Returns the wall time until every sync's run completed, and the keys.
 */
export async function shardedImport(emulatorUrl, defaultQuery, bounds) {
  const edges = [null, ...bounds, null];
  const ranges = edges.slice(1).map((to, i) => keyRange(edges[i], to));
  const syncs = ranges.slice(1).map((where, i) => ({
    name: `shard${i + 2}`,
    query: `SELECT * FROM (${defaultQuery}) WHERE ${where}`,
  }));
  const worker = await startWorker({
    vars: {
      BIGQUERY_API_BASE: emulatorUrl,
      SYNC_QUERY: `SELECT * FROM (${defaultQuery}) WHERE ${ranges[0]}`,
      SYNCS: JSON.stringify(syncs),
    },
  });
  try {
    const start = Date.now();
    const runs = await Promise.all([null, ...syncs.map((s) => s.name)].map((name) => syncToCompletion(worker, "?wait=false", name)));
    const ms = Date.now() - start;
    return { ms, runs: runs.map((r) => r.run), keys: (await allKeys(worker.kv)).length };
  } finally {
    await worker.dispose();
  }
}

export const mib = (bytes) => `${(bytes / MiB).toFixed(1)} MiB`;
export const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;
