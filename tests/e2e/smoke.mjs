import { Miniflare } from "miniflare";
const mf = new Miniflare({
  modules: true,
  scriptPath: "build/index.js",
  modulesRoot: "build",
  modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
  compatibilityDate: "2026-07-28",
  kvNamespaces: ["IDENTITY_STORE"],
  durableObjects: { SYNC_COORDINATOR: { className: "SyncCoordinator", useSQLite: true } },
  bindings: { EVENT_SIGNING_SECRET: "s", BIGQUERY_PROJECT_ID: "demo", BIGQUERY_API_BASE: "http://127.0.0.1:9150", SYNC_QUERY: "SELECT k AS key, u AS updated_at, n, j, r FROM outbound_sales.t" },
});
const r = await mf.dispatchFetch("http://x/sync-kv-now", { method: "POST", headers: { authorization: "Bearer s" } });
console.log(r.status, await r.text());
const s = await mf.dispatchFetch("http://x/status", { headers: { authorization: "Bearer s" } });
console.log(s.status, await s.text());
const kv = await mf.getKVNamespace("IDENTITY_STORE");
console.log(await kv.list());
console.log(await kv.getWithMetadata("a"));
await mf.dispose();
