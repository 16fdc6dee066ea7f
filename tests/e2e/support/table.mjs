// A small source table of our own in the emulator, for tests that need rows
// the demo data never has (stamped in the future, without updated_at, keys
// KV refuses) and that take rows away. Changed with SQL, as a user would.
import { PROJECT } from "./stack.mjs";

const DATASET = "outbound_sales";
let tables = 0;

/** Runs one statement on the emulator; fails on an error. */
async function execute(emulatorUrl, sql) {
  const response = await fetch(`${emulatorUrl}/bigquery/v2/projects/${PROJECT}/queries`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: sql, useLegacySql: false }),
  });
  const body = await response.json();
  if (!response.ok || body.errors?.length) throw new Error(`${sql.slice(0, 80)}: ${JSON.stringify(body.errors ?? body)}`);
}

const literal = (v) => (v === null || v === undefined ? "NULL" : `'${String(v).replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`);

/** Creates a fresh table `outbound_sales.mirror_N`; returns helpers and the SYNC_QUERY over it. */
export async function sourceTable(emulatorUrl) {
  const name = `${DATASET}.mirror_${process.pid}_${++tables}`;
  // The dataset, unless it is there already (409).
  await fetch(`${emulatorUrl}/bigquery/v2/projects/${PROJECT}/datasets`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ datasetReference: { projectId: PROJECT, datasetId: DATASET } }),
  });
  await execute(emulatorUrl, `CREATE TABLE ${name} (key STRING, updated_at TIMESTAMP, name STRING, visits INT64, deleted BOOL)`);
  // bqemulator keeps CREATE TABLE's result open on its shared connection
  // until another statement runs.
  await execute(emulatorUrl, "SELECT 1");
  return {
    name,
    query: `SELECT key, updated_at, name, visits, deleted FROM ${name}`,
    /** rows: [{key, updated_at (ISO or null), name, visits, deleted}] */
    async insert(rows) {
      const values = rows.map((r) => `(${literal(r.key)}, ${r.updated_at ? `TIMESTAMP ${literal(r.updated_at)}` : "NULL"}, ${literal(r.name ?? "x")}, ${r.visits ?? 0}, ${r.deleted ? "TRUE" : "FALSE"})`);
      for (let i = 0; i < values.length; i += 200) {
        await execute(emulatorUrl, `INSERT INTO ${name} (key, updated_at, name, visits, deleted) VALUES ${values.slice(i, i + 200).join(", ")}`);
      }
    },
    async remove(keys) {
      await execute(emulatorUrl, `DELETE FROM ${name} WHERE key IN (${keys.map(literal).join(", ")})`);
    },
    async clear() {
      await execute(emulatorUrl, `DELETE FROM ${name} WHERE TRUE`);
    },
  };
}

/** The value kv-sync writes for a row of such a table. */
export const valueOf = (row) => ({ name: row.name ?? "x", visits: row.visits ?? 0 });

/** An RFC 3339 time `seconds` from now. */
export const at = (seconds = 0) => new Date(Date.now() + seconds * 1000).toISOString();
