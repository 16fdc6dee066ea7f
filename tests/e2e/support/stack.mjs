// The local stack the end-to-end tests run against: the real BigQuery REST
// emulator (bqemulator) seeded with generated leads, and the built Worker in
// workerd through Miniflare, with real Durable Objects (SQLite), alarms and KV.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const PYTHON = path.join(ROOT, ".venv/bin/python");
export const SECRET = "test-secret-" + Math.random().toString(36).slice(2);
export const PROJECT = "demo";

export async function freePort() {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  server.close();
  await once(server, "close");
  return port;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor(probe, { timeoutMs = 60_000, everyMs = 100, what = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await probe();
    if (last) return last;
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Starts bqemulator on a free port and waits until it answers. */
export async function startEmulator({ port } = {}) {
  port ??= await freePort();
  const child = spawn(
    PYTHON,
    [path.join(ROOT, "tools/bqemu/launch.py"), "--rest-port", String(port), "--grpc-port", "0",
      "--project", PROJECT, "--log-level", "warning"],
    { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, BQEMU_ENABLE_FORMAT_EXTENSIONS: "false" } },
  );
  let stderr = "";
  child.stderr.on("data", (d) => { stderr = (stderr + d).slice(-4000); });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`bqemulator exited: ${stderr}`);
    try {
      return (await fetch(`${url}/bigquery/v2/projects/${PROJECT}/datasets`)).ok;
    } catch {
      return false;
    }
  }, { timeoutMs: 60_000, what: "bqemulator to start" });
  return {
    url,
    port,
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await once(child, "exit");
      }
    },
  };
}

/** Runs the demo-data loader (tools/bqemu/seed.py) against an emulator. */
export async function seed(emulatorUrl, args) {
  const child = spawn(PYTHON, [path.join(ROOT, "tools/bqemu/seed.py"), "--api", emulatorUrl, "--project", PROJECT, ...args],
    { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const [code] = await once(child, "exit");
  if (code !== 0) throw new Error(`seed.py ${args.join(" ")} failed: ${out}`);
  return out;
}

/** Runs one query on the emulator and returns its rows as objects of strings. */
export async function bigQuery(emulatorUrl, sql) {
  const response = await fetch(`${emulatorUrl}/bigquery/v2/projects/${PROJECT}/queries`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: sql, useLegacySql: false, maxResults: 1_000_000, formatOptions: { useInt64Timestamp: true } }),
  });
  const body = await response.json();
  if (body.errors?.length) throw new Error(`query failed: ${JSON.stringify(body.errors)}`);
  const names = body.schema.fields.map((f) => f.name);
  return (body.rows ?? []).map((r) => Object.fromEntries(r.f.map((c, i) => [names[i], c.v])));
}

/**
 * Starts the built Worker (build/index.js) in workerd. State persists in
 * `persistDir` when given, so a test can stop and restart the runtime.
 * `secret: null` starts it with no EVENT_SIGNING_SECRET at all.
 * `listen: true` also serves it over HTTP on a free 127.0.0.1 port (for a
 * browser); its base URL is then `url` (otherwise `url` is null).
 */
export async function startWorker({ vars = {}, secret = SECRET, persistDir, listen = false, kvNamespaces = [] } = {}) {
  const bindings = { BIGQUERY_PROJECT_ID: PROJECT, ...vars };
  if (secret !== null) bindings.EVENT_SIGNING_SECRET = secret;
  const logs = [];
  const logTimes = [];
  const mf = new Miniflare({
    modules: true,
    scriptPath: path.join(ROOT, "build/index.js"),
    modulesRoot: path.join(ROOT, "build"),
    modulesRules: [{ type: "CompiledWasm", include: ["**/*.wasm"] }],
    compatibilityDate: "2026-07-28",
    kvNamespaces: ["IDENTITY_STORE", ...kvNamespaces],
    durableObjects: { SYNC_COORDINATOR: { className: "SyncCoordinator", useSQLite: true } },
    bindings,
    ...(listen ? { host: "127.0.0.1", port: 0 } : {}),
    ...(persistDir ? { kvPersist: path.join(persistDir, "kv"), durableObjectsPersist: path.join(persistDir, "do") } : {}),
    handleRuntimeStdio(stdout, stderr) {
      const collect = (stream) => stream.on("data", (d) => {
        for (const line of String(d).split("\n")) {
          if (!line.trim()) continue;
          logs.push(line);
          logTimes.push(Date.now());
        }
      });
      collect(stdout);
      collect(stderr);
    },
  });
  const ready = await mf.ready;
  const url = listen ? new URL(ready).origin : null;
  const kv = await mf.getKVNamespace("IDENTITY_STORE");
  const namespaces = Object.fromEntries(await Promise.all(kvNamespaces.map(async (n) => [n, await mf.getKVNamespace(n)])));
  const call = (pathAndQuery, init = {}) => mf.dispatchFetch(`http://kv-sync.test${pathAndQuery}`, init);
  const authed = (token = secret) => ({ authorization: `Bearer ${token}` });
  return {
    mf,
    url,
    kv,
    /** The extra KV namespaces, by binding name. */
    namespaces,
    logs,
    call,
    /** Structured log events (one JSON object per line) the Worker printed; `_at` is when it arrived. */
    events: (name) => logs.flatMap((l, i) => {
      try {
        const e = JSON.parse(l.slice(l.indexOf("{")));
        return !name || e.event === name ? [{ ...e, _at: logTimes[i] }] : [];
      } catch {
        return [];
      }
    }),
    async syncNow(query = "", token = secret) {
      const r = await call(`/sync-kv-now${query}`, { method: "POST", headers: authed(token) });
      return { status: r.status, body: await r.json() };
    },
    async status(query = "", token = secret) {
      const r = await call(`/status${query}`, { headers: authed(token) });
      return { status: r.status, body: await r.json() };
    },
    async dispose() {
      await mf.dispose();
    },
  };
}

export function tempDir(prefix = "kv-sync-test-") {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Lists every key in a KV namespace (KV pages by 1,000). */
export async function allKeys(kv) {
  const keys = [];
  let cursor;
  do {
    const page = await kv.list({ cursor });
    keys.push(...page.keys.map((k) => k.name));
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
  return keys;
}
