// A local double of the Cloudflare KV bulk REST API (PUT …/bulk and
// POST …/bulk/delete) that checks requests as the real API does (token,
// path, at most 10,000 pairs and 100 MB, key and metadata limits) and
// stores into the same KV namespace the Worker reads. A key KV refuses
// ("." or "..") fails the whole request with 400. It can answer 429 with
// Retry-After, or report some keys as unsuccessful without writing them.
//
// For benchmarks it can also check and count without storing (`store:
// false`, so a measure of the bulk path is not a measure of the double's
// writes into workerd) and answer each request only after `latencyMs` (a
// round trip to Cloudflare's API from a Worker is far from loopback).
import { once } from "node:events";
import { createServer } from "node:http";

export async function startKvBulkApi({ accountId = "acc123", namespaceId = "ns456", token = "cf-test-token", store = true, latencyMs = 0 } = {}) {
  let kv;
  const requests = [];
  const counted = new Set();
  const problems = [];
  const queued429 = [];
  let failNext = 0;
  let revoked = false;
  const envelope = (res, status, body, headers = {}) => {
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(JSON.stringify(body));
  };
  const error = (res, status, code, message, headers) =>
    envelope(res, status, { success: false, errors: [{ code, message }], messages: [], result: null }, headers);

  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const raw = Buffer.concat(chunks);
    const base = `/accounts/${accountId}/storage/kv/namespaces/${namespaceId}/bulk`;
    const isWrite = req.method === "PUT" && req.url === base;
    const isDelete = req.method === "POST" && req.url === `${base}/delete`;
    if (req.headers.authorization !== `Bearer ${token}` || revoked) return error(res, 403, 10000, "Authentication error");
    // An account or namespace id that names nothing: Cloudflare answers 400
    // with code 7003, not 404.
    if (!isWrite && !isDelete && /^\/accounts\/[^/]+\/storage\/kv\/namespaces\/[^/]+\/bulk(\/delete)?$/.test(req.url)) {
      return error(res, 400, 7003, `Could not route to /client/v4${req.url}, perhaps your object identifier is invalid?`);
    }
    if (!isWrite && !isDelete) return error(res, 404, 7000, `No route for that URI`);
    if (raw.length > 100 * 1024 * 1024) return error(res, 413, 10011, "request too large");
    let items;
    try {
      items = JSON.parse(raw.toString());
    } catch {
      return error(res, 400, 10026, "could not parse request body");
    }
    if (!Array.isArray(items) || items.length > 10_000) return error(res, 400, 10026, "body must be an array of at most 10,000");
    const record = { kind: isWrite ? "write" : "delete", keys: items.map((i) => (isWrite ? i.key : i)), status: 200 };
    requests.push(record);
    // KV refuses the key names "." and ".." (as the binding does); one such
    // pair fails the whole request.
    const refused = record.keys.find((k) => k === "." || k === "..");
    if (refused !== undefined) {
      record.status = 400;
      return error(res, 400, 10019, `Invalid key name: ${JSON.stringify(refused)} is not allowed`);
    }
    const limited = queued429.shift();
    if (limited !== undefined) {
      record.status = 429;
      return error(res, 429, 10013, "Too many requests", { "retry-after": String(limited) });
    }
    const failed = new Set(record.keys.slice(0, failNext));
    failNext = 0;
    const check = (item) => {
      const key = isWrite ? item.key : item;
      if (typeof key !== "string" || Buffer.byteLength(key) > 512) problems.push(`bad key ${key}`);
      if (failed.has(key) || isDelete) return;
      if (typeof item.value !== "string") problems.push(`value of ${key} is not a string`);
      else if (Buffer.byteLength(item.value) > 25 * 1024 * 1024) problems.push(`value of ${key} over 25 MiB`);
      if (item.metadata && Buffer.byteLength(JSON.stringify(item.metadata)) > 1024) problems.push(`metadata of ${key} over 1024 bytes`);
      if (item.expiration_ttl !== undefined && item.expiration_ttl < 60) problems.push(`expiration_ttl ${item.expiration_ttl}`);
    };
    const write = async (item) => {
      const key = isWrite ? item.key : item;
      if (failed.has(key)) return;
      if (!store) return isDelete ? counted.delete(key) : counted.add(key);
      if (isDelete) return kv.delete(key);
      return kv.put(key, item.value, { metadata: item.metadata, expirationTtl: item.expiration_ttl });
    };
    items.forEach(check);
    if (latencyMs) await new Promise((r) => setTimeout(r, latencyMs));
    // The real API stores a request's pairs in parallel; so does the double.
    for (let i = 0; i < items.length; i += 256) await Promise.all(items.slice(i, i + 256).map(write));
    envelope(res, 200, { success: true, errors: [], messages: [],
      result: { successful_key_count: items.length - failed.size, unsuccessful_keys: [...failed] } });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    vars: { CLOUDFLARE_API_BASE: `http://127.0.0.1:${server.address().port}`, CLOUDFLARE_ACCOUNT_ID: accountId, KV_NAMESPACE_ID: namespaceId, CLOUDFLARE_API_TOKEN: token },
    requests,
    problems,
    /** With `store: false`, the distinct keys written (and not deleted). */
    counted,
    /** Stores into this namespace (the Worker's IDENTITY_STORE). */
    attach: (namespace) => { kv = namespace; },
    /** The next request is answered 429 with this Retry-After. */
    inject429: (retryAfterSeconds) => queued429.push(retryAfterSeconds),
    /** The next request reports its first `n` keys unsuccessful and skips them. */
    failFirstKeysOfNextRequest: (n) => { failNext = n; },
    /** The token stops working (403 code 10000), or works again. */
    revoke: () => { revoked = true; },
    restore: () => { revoked = false; },
    stop: () => new Promise((r) => server.close(r)),
  };
}
