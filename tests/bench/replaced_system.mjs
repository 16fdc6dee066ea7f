// The system kv-sync replaces, as the SPEC describes it, run on the same
// data in the same runtime (workerd through Miniflare): one trigger runs one
// `jobs.query` and reads only its first page, then writes the rows to KV one
// awaited `KV.put` at a time, each value the row's cells as untyped strings.
// On Cloudflare an invocation may make 1,000 KV operations; the 1,001st
// throws and ends the invocation, so with the cap the loop stops there.
// workerd does not enforce that cap locally, so it is applied here; without
// it, the figure shows what the algorithm alone would do.
//
// Not reproduced, because the emulator makes them moot: the Google token
// minted on every call, and the query's "inserted in the last 10 minutes"
// window (on an import every row is new, so the default query over all rows
// is the same data). BigQuery ends a first page at 10 MB; the emulator at
// 10,000 rows, about 4 MB of these rows, so the first page here is no
// smaller than BigQuery's would be.
import { Miniflare } from "miniflare";
import { PROJECT } from "../e2e/support/stack.mjs";
import { DEFAULT_QUERY, BEGINNING_OF_TIME } from "../e2e/support/expect.mjs";

const REPLACED_WORKER = `
export default {
  async fetch(request, env) {
    const started = Date.now();
    const response = await fetch(env.BIGQUERY_URL + "/bigquery/v2/projects/" + env.PROJECT + "/queries", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: env.QUERY_BODY,
    });
    const page = await response.json();
    const names = page.schema.fields.map((f) => f.name);
    let written = 0;
    for (const row of page.rows ?? []) {
      if (env.CAP === "on" && written === 1000) break;
      const record = {};
      row.f.forEach((cell, i) => { record[names[i]] = cell.v; });
      await env.KV.put(record.key, JSON.stringify(record));
      written += 1;
    }
    return Response.json({ written, first_page_rows: page.rows?.length ?? 0, total_rows: Number(page.totalRows), ms: Date.now() - started });
  },
};`;

/**
 * One trigger of the replaced system against a fresh KV namespace; returns
 * `{ keys, ms, firstPageRows, totalRows }` (keys: what KV holds afterwards).
 */
export async function runReplacedSystem(emulatorUrl, { cap }) {
  const queryBody = JSON.stringify({
    query: DEFAULT_QUERY,
    useLegacySql: false,
    parameterMode: "NAMED",
    queryParameters: [{ name: "since", parameterType: { type: "TIMESTAMP" }, parameterValue: { value: BEGINNING_OF_TIME } }],
  });
  const mf = new Miniflare({
    modules: true,
    script: REPLACED_WORKER,
    kvNamespaces: ["KV"],
    compatibilityDate: "2026-07-28",
    bindings: { BIGQUERY_URL: emulatorUrl, PROJECT, QUERY_BODY: queryBody, CAP: cap ? "on" : "off" },
  });
  try {
    await mf.ready;
    const response = await mf.dispatchFetch("http://replaced/cron");
    if (!response.ok) throw new Error(`replaced system: ${response.status} ${await response.text()}`);
    const result = await response.json();
    const kv = await mf.getKVNamespace("KV");
    let keys = 0;
    let cursor;
    do {
      const page = await kv.list({ cursor });
      keys += page.keys.length;
      cursor = page.list_complete ? undefined : page.cursor;
    } while (cursor);
    return { keys, ms: result.ms, firstPageRows: result.first_page_rows, totalRows: result.total_rows };
  } finally {
    await mf.dispose();
  }
}
