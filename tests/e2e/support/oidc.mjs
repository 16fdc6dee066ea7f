// A local double of what Google puts in front of `POST /push`: the OIDC
// certificate endpoint (a JWKS, like https://www.googleapis.com/oauth2/v3/certs)
// and the ID tokens Pub/Sub signs for a push subscription. Keys are RSA 2048
// generated at test time; the endpoint counts its fetches so a test can tell
// whether the Worker caches the keys and how often it fetches them again.
//
// Also the two things Pub/Sub sends: the wrapped push envelope around one row
// (`envelope`), as BigQuery's TO_JSON_STRING renders it (`toJsonString`), and
// the request itself (`push`).
import { createHmac, createPublicKey, generateKeyPairSync, randomUUID, sign } from "node:crypto";
import { once } from "node:events";
import { createServer } from "node:http";

export const AUDIENCE = "https://kv-sync.test/push";
export const SERVICE_ACCOUNT = "pubsub-push@demo.iam.gserviceaccount.com";
export const ISSUER = "https://accounts.google.com";
export const SUBSCRIPTION = "projects/demo/subscriptions/kv-sync-push";
const CERTS_PATH = "/oauth2/v3/certs";

const b64url = (data) => Buffer.from(data).toString("base64url");
const jsonPart = (object) => b64url(JSON.stringify(object));

/** Seconds since the epoch, as JWT claims count time. */
export const nowSeconds = () => Math.floor(Date.now() / 1000);

function newKey() {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return { kid: randomUUID().replace(/-/g, ""), privateKey, publicKey };
}

/** A key's public half as a JWK, as Google's endpoint lists it. */
function jwk({ kid, publicKey }) {
  const { n, e } = publicKey.export({ format: "jwk" });
  return { kty: "RSA", alg: "RS256", use: "sig", kid, n, e };
}

/**
 * Starts the certificate endpoint. Returns:
 * - `url`: the JWKS URL (GOOGLE_OIDC_CERTS_URL), `vars`: the three vars that
 *   turn `/push` on against this double;
 * - `kid`: the kid `mint` signs with now; `kids()`: the kids listed;
 * - `fetches` (getter) and `fetchTimes` (ms): the GETs of the JWKS so far;
 * - `maxAge` (get/set): the `Cache-Control: max-age` the JWKS is served with;
 * - `mint(claims, options)`: an ID token (see below);
 * - `rotate({ keep = true })`: a new signing key is listed (and the old one
 *   too, unless `keep: false`, as Google keeps both for a while); returns its kid;
 * - `stop()`.
 */
export async function startOidc({ maxAge = 3600, audience = AUDIENCE, serviceAccount = SERVICE_ACCOUNT } = {}) {
  let keys = [newKey()];
  let stranger; // a key never listed, made when first asked for
  const fetchTimes = [];
  let cacheSeconds = maxAge;

  const server = createServer((req, res) => {
    const path = req.url.split("?")[0];
    if (req.method !== "GET" || path !== CERTS_PATH) {
      res.writeHead(404, { "content-type": "text/plain" });
      return res.end("not found");
    }
    fetchTimes.push(Date.now());
    // As Google serves it (the extra directives included, so a parser that
    // expects max-age alone is caught).
    res.writeHead(200, {
      "content-type": "application/json; charset=UTF-8",
      "cache-control": `public, max-age=${cacheSeconds}, must-revalidate, no-transform`,
      date: new Date().toUTCString(),
      expires: new Date(Date.now() + cacheSeconds * 1000).toUTCString(),
    });
    res.end(JSON.stringify({ keys: keys.map(jwk) }, null, 2));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const url = `http://127.0.0.1:${server.address().port}${CERTS_PATH}`;

  const current = () => keys.at(-1);
  const strangerKey = () => (stranger ??= newKey());

  /**
   * An ID token as Pub/Sub signs it for a push subscription:
   * header `{alg: "RS256", kid, typ: "JWT"}`, claims `{iss, aud, azp, email,
   * email_verified: true, sub, iat: now, exp: now + 3600}`. `claims`
   * override them (a claim given as `undefined` is left out).
   * Options:
   * - `alg`: `"RS256"` (default), `"HS256"` (HMAC keyed with `secret`, by
   *   default the listed public key's PEM: the key-confusion attack) or
   *   `"none"` (an empty signature);
   * - `key`: `"stranger"` signs with a key not in the JWKS (under the current
   *   kid unless `kid` is given), or a private KeyObject;
   * - `kid`: the header's kid: a listed one signs with that key (e.g. the
   *   one before `rotate`), an unlisted one with the current key;
   * - `header`: more header fields;
   * - `tamper`: after signing, the claims are changed (`exp` one hour later,
   *   or `tamper` itself when it is an object) so the signature no longer verifies;
   * - `malformed`: a token that is not three dot-separated parts.
   */
  function mint(claims = {}, options = {}) {
    const { alg = "RS256", secret, tamper, malformed } = options;
    // A listed kid signs with its own key; an unlisted one with the current key.
    let signer = keys.find((k) => k.kid === options.kid) ?? current();
    if (options.key === "stranger") signer = { ...strangerKey(), kid: options.kid ?? current().kid };
    else if (options.key) signer = { privateKey: options.key, kid: options.kid ?? current().kid };
    const kid = options.kid ?? signer.kid;
    const now = nowSeconds();
    const merged = {
      iss: ISSUER,
      aud: audience,
      azp: "112233445566778899001",
      email: serviceAccount,
      email_verified: true,
      sub: "112233445566778899001",
      iat: now,
      exp: now + 3600,
      ...claims,
    };
    for (const [name, value] of Object.entries(merged)) if (value === undefined) delete merged[name];
    const header = { alg, kid, typ: "JWT", ...options.header };
    const signingInput = `${jsonPart(header)}.${jsonPart(merged)}`;
    let signature;
    if (alg === "none") signature = "";
    else if (alg === "HS256") {
      const hmacKey = secret ?? createPublicKey(signer.privateKey).export({ type: "spki", format: "pem" });
      signature = createHmac("sha256", hmacKey).update(signingInput).digest("base64url");
    } else signature = sign("RSA-SHA256", Buffer.from(signingInput), signer.privateKey).toString("base64url");
    if (malformed) return `${jsonPart(header)}.${jsonPart(merged)}`;
    if (tamper) {
      const changed = typeof tamper === "object" ? { ...merged, ...tamper } : { ...merged, exp: merged.exp + 3600 };
      return `${jsonPart(header)}.${jsonPart(changed)}.${signature}`;
    }
    return `${signingInput}.${signature}`;
  }

  return {
    url,
    audience,
    serviceAccount,
    vars: { GOOGLE_OIDC_CERTS_URL: url, PUSH_AUDIENCE: audience, PUSH_SERVICE_ACCOUNT: serviceAccount },
    get kid() {
      return current().kid;
    },
    kids: () => keys.map((k) => k.kid),
    get fetches() {
      return fetchTimes.length;
    },
    fetchTimes,
    get maxAge() {
      return cacheSeconds;
    },
    set maxAge(seconds) {
      cacheSeconds = seconds;
    },
    mint,
    rotate({ keep = true } = {}) {
      const next = newKey();
      keys = keep ? [...keys, next] : [next];
      return next.kid;
    },
    stop: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
  };
}

// ---------------------------------------------------------------------------
// What BigQuery and Pub/Sub send.

const TWO_53 = 2n ** 53n;

/**
 * A TIMESTAMP as TO_JSON_STRING renders it: RFC 3339 in UTC with exactly six
 * fractional digits and `Z` ("2026-03-06T12:34:56.789012Z"). Takes any
 * RFC 3339 time; digits past the sixth are cut, missing ones are zeros.
 */
export function timestampJson(iso) {
  if (iso === null || iso === undefined) return null;
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/i.exec(iso);
  if (!m) throw new Error(`not an RFC 3339 time: ${iso}`);
  const whole = new Date(`${m[1]}${m[3].toUpperCase()}`).toISOString().slice(0, 19);
  return `${whole}.${(m[2] ?? "").slice(0, 6).padEnd(6, "0")}Z`;
}

/** An INT64 as TO_JSON_STRING renders it: a number within ±2^53, a string beyond. */
export function int64Json(value) {
  const n = BigInt(value);
  return n >= -TWO_53 && n <= TWO_53 ? Number(n) : n.toString();
}

/**
 * One row of `table.mjs`'s source table (`{key, updated_at, name, visits,
 * deleted}`, with the same defaults `insert` uses) as BigQuery's
 * TO_JSON_STRING renders it, in column order. `extra` columns follow (e.g.
 * CHANGES()'s `_CHANGE_TYPE`, `_CHANGE_TIMESTAMP`: a `_CHANGE_TIMESTAMP`
 * given as an RFC 3339 time is rendered as a TIMESTAMP).
 */
export function toJsonString(row, extra = {}) {
  const rendered = {
    key: row.key,
    updated_at: timestampJson(row.updated_at),
    name: row.name ?? "x",
    visits: int64Json(row.visits ?? 0),
    deleted: Boolean(row.deleted),
  };
  for (const [name, value] of Object.entries(extra)) {
    rendered[name] = name === "_CHANGE_TIMESTAMP" && typeof value === "string" ? timestampJson(value) : value;
  }
  return JSON.stringify(rendered);
}

let messages = 0;

/**
 * Pub/Sub's wrapped push body around one message. `data` is the message's
 * payload: a string is sent as it is (e.g. `toJsonString(row)`, or text that
 * is not JSON); anything else is sent as its JSON (e.g. `[1, 2]`).
 */
export function envelope(data, { messageId, publishTime, attributes } = {}) {
  const text = typeof data === "string" ? data : JSON.stringify(data);
  messages += 1;
  return {
    message: {
      data: Buffer.from(text, "utf8").toString("base64"),
      messageId: messageId ?? String(9_000_000_000_000 + messages),
      message_id: messageId ?? String(9_000_000_000_000 + messages),
      publishTime: publishTime ?? new Date().toISOString(),
      publish_time: publishTime ?? new Date().toISOString(),
      attributes: attributes ?? {},
    },
    subscription: SUBSCRIPTION,
  };
}

/**
 * Delivers a push as Pub/Sub does: `POST /push{query}` with the bearer
 * token and a JSON body (a string is sent as it is). Returns the status, the
 * body (parsed JSON, or the text when it is not JSON) and the headers.
 */
export async function push(worker, body, token, query = "") {
  const headers = { "content-type": "application/json" };
  if (token !== undefined && token !== null) headers.authorization = `Bearer ${token}`;
  const r = await worker.call(`/push${query}`, {
    method: "POST",
    headers,
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await r.text();
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: r.status, body: parsed, headers: r.headers };
}
