// The floors kv-sync is measured against, in the same run: what raw KV puts
// from a Worker take, and what a bare client takes only to page through the
// BigQuery results kv-sync reads (the same SQL and parameters, recorded on
// the way to the emulator); and, for the latency line (L), what one bare put
// and one bare query take.
import { once } from "node:events";
import { createServer } from "node:http";
import { performance } from "node:perf_hooks";
import { Miniflare } from "miniflare";
import { PROJECT } from "../e2e/support/stack.mjs";

export const PUTS_PER_INVOCATION = 1_000;
export const CONCURRENCY = 32; // the binding sink's concurrency (src/kv/binding.rs)
/** Workers may hold 6 connections open at once; a parallel reader stays within it. */
export const WORKER_CONNECTIONS = 6;

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

/** Milliseconds for `rows` raw puts of `valueBytes` each, 1,000 an invocation. */
export async function putFloor(rows, valueBytes) {
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

/**
 * The latency of one raw KV put made by a request, `samples` times: each a
 * request to a Worker that does nothing but one `KV.put` of `valueBytes` and
 * answers (dispatch, put, answer: the least any write made in a request
 * takes here). One warm-up request goes first and is not counted. Returns
 * the milliseconds of each.
 */
export async function onePutLatencies(samples, valueBytes) {
  const mf = new Miniflare({ modules: true, script: FLOOR_WORKER, kvNamespaces: ["KV"], compatibilityDate: "2026-07-28" });
  await mf.ready;
  try {
    const onePut = async (from) => {
      const start = performance.now();
      const r = await mf.dispatchFetch(`http://floor/?from=${from}&count=1&size=${valueBytes}`);
      const body = await r.text();
      if (!r.ok) throw new Error(`floor worker: ${r.status} ${body}`);
      return performance.now() - start;
    };
    await onePut(0);
    const ms = [];
    for (let i = 1; i <= samples; i++) ms.push(await onePut(i));
    return ms;
  } finally {
    await mf.dispose();
  }
}

/**
 * The latency of one bare `jobs.query` of `SELECT 1` on the emulator,
 * `samples` times after one warm-up (the least any BigQuery read takes
 * here). Returns the milliseconds of each.
 */
export async function selectOneLatencies(emulatorUrl, samples) {
  const oneQuery = async () => {
    const start = performance.now();
    await getJson(`${emulatorUrl}/bigquery/v2/projects/${PROJECT}/queries`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "SELECT 1", useLegacySql: false }),
    });
    return performance.now() - start;
  };
  await oneQuery();
  const ms = [];
  for (let i = 0; i < samples; i++) ms.push(await oneQuery());
  return ms;
}

/**
 * A pass-through proxy in front of the emulator that keeps the body of every
 * `jobs.query` request, so the read floor replays exactly what kv-sync asked.
 */
export async function recordingProxy(emulatorUrl) {
  const queries = [];
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks);
    if (req.method === "POST" && /\/queries$/.test(req.url)) queries.push(JSON.parse(body.toString()));
    const upstream = await fetch(emulatorUrl + req.url, {
      method: req.method,
      headers: { "content-type": req.headers["content-type"] ?? "application/json" },
      body: ["GET", "HEAD"].includes(req.method) ? undefined : body,
    });
    res.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "application/json" });
    res.end(Buffer.from(await upstream.arrayBuffer()));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    queries,
    stop: () => new Promise((r) => server.close(r)),
  };
}

async function getJson(url, init) {
  const response = await fetch(url, init);
  const body = await response.json();
  if (!response.ok || body.errors?.length) throw new Error(`${url}: ${JSON.stringify(body.error ?? body.errors).slice(0, 300)}`);
  return body;
}

/**
 * Reads every row of a query the way a bare client would, and returns
 * `{ ms, rows, pages }`. Sequential: each page's `pageToken` asks for the
 * next. Parallel: once the first page gives `totalRows`, the other pages are
 * fetched by `startIndex`, `WORKER_CONNECTIONS` at a time. Rows are parsed
 * and counted, never kept.
 */
export async function readFloor(emulatorUrl, queryBody, { pageRows = 10_000, parallel = false } = {}) {
  const start = Date.now();
  const first = await getJson(`${emulatorUrl}/bigquery/v2/projects/${PROJECT}/queries`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ...queryBody, maxResults: pageRows }),
  });
  if (!first.jobComplete) throw new Error("the read floor expects the emulator to finish the job in the first call");
  const job = first.jobReference.jobId;
  const page = (params) => getJson(`${emulatorUrl}/bigquery/v2/projects/${PROJECT}/queries/${job}?maxResults=${pageRows}&formatOptions.useInt64Timestamp=true&${params}`);
  let rows = first.rows?.length ?? 0;
  let pages = 1;
  if (parallel) {
    const total = Number(first.totalRows);
    const starts = [];
    for (let at = rows; at < total; at += pageRows) starts.push(at);
    let next = 0;
    await Promise.all(Array.from({ length: WORKER_CONNECTIONS }, async () => {
      for (let i = next++; i < starts.length; i = next++) {
        const body = await page(`startIndex=${starts[i]}`);
        rows += body.rows?.length ?? 0;
        pages += 1;
      }
    }));
  } else {
    for (let token = first.pageToken; token; ) {
      const body = await page(`pageToken=${encodeURIComponent(token)}`);
      rows += body.rows?.length ?? 0;
      pages += 1;
      token = body.pageToken;
    }
  }
  return { ms: Date.now() - start, rows, pages };
}
