// Local doubles of the two Google services that cannot run here, each
// checking what it receives as the real one would:
// - a token endpoint that verifies the service account's RS256 JWT against
//   the public half of a key generated at test time, and its claims;
// - a front for the BigQuery emulator that demands a token the endpoint
//   issued, and can inject 429/503 answers or keep a job "running".
import { generateKeyPairSync, verify } from "node:crypto";
import { once } from "node:events";
import { createServer } from "node:http";

async function listen(server) {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return `http://127.0.0.1:${server.address().port}`;
}

const readBody = async (req) => {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks).toString();
};

const json = (res, status, body) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
};

const b64url = (text) => Buffer.from(text, "base64url");

/** A service account with a fresh key, and its token endpoint. */
export async function startTokenEndpoint() {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const issued = new Set();
  const requests = [];
  const rejections = [];
  let tokenUri;
  const server = createServer(async (req, res) => {
    const form = new URLSearchParams(await readBody(req));
    requests.push({ at: Date.now() });
    const reject = (why) => {
      rejections.push(why);
      json(res, 400, { error: "invalid_grant", error_description: why });
    };
    if (req.method !== "POST" || req.url !== "/token") return reject(`unexpected ${req.method} ${req.url}`);
    if (form.get("grant_type") !== "urn:ietf:params:oauth:grant-type:jwt-bearer") return reject("bad grant_type");
    const [header, claims, signature] = (form.get("assertion") ?? "").split(".");
    if (!signature) return reject("assertion is not a JWT");
    const ok = verify("RSA-SHA256", Buffer.from(`${header}.${claims}`), publicKey, b64url(signature));
    if (!ok) return reject("Invalid JWT Signature.");
    const h = JSON.parse(b64url(header).toString());
    const c = JSON.parse(b64url(claims).toString());
    const now = Math.floor(Date.now() / 1000);
    if (h.alg !== "RS256") return reject(`alg ${h.alg}`);
    if (c.iss !== account.client_email) return reject(`iss ${c.iss}`);
    if (c.aud !== tokenUri) return reject(`aud ${c.aud}`);
    if (c.scope !== "https://www.googleapis.com/auth/bigquery.readonly") return reject(`scope ${c.scope}`);
    if (c.exp - c.iat !== 3600) return reject("lifetime is not one hour");
    if (Math.abs(c.iat - now) > 60) return reject("iat is not now");
    const token = `ya29.test-${issued.size + 1}-${Math.random().toString(36).slice(2)}`;
    issued.add(token);
    json(res, 200, { access_token: token, expires_in: 3599, token_type: "Bearer" });
  });
  const base = await listen(server);
  tokenUri = `${base}/token`;
  const account = {
    type: "service_account",
    project_id: "demo",
    private_key_id: "test",
    private_key: privateKey.export({ type: "pkcs8", format: "pem" }),
    client_email: "kv-sync@demo.iam.gserviceaccount.com",
    client_id: "1",
    token_uri: tokenUri,
  };
  return {
    credentials: JSON.stringify(account),
    issued,
    requests,
    rejections,
    revokeAll: () => issued.clear(),
    stop: () => new Promise((r) => server.close(r)),
  };
}

/** Forwards BigQuery REST calls to the emulator, like Google's front end. */
export async function startBigQueryFront(emulatorUrl, tokens) {
  const faults = [];
  const seen = [];
  let stalled = false;
  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    const auth = req.headers.authorization ?? "";
    seen.push({ method: req.method, url: req.url, auth });
    if (!tokens.issued.has(auth.replace(/^Bearer /, ""))) {
      return json(res, 401, { error: { code: 401, status: "UNAUTHENTICATED",
        message: "Request had invalid authentication credentials.", errors: [{ reason: "authError", message: "Invalid Credentials" }] } });
    }
    const fault = faults.shift();
    if (fault) {
      return json(res, fault.status, { error: { code: fault.status, message: fault.message,
        errors: [{ reason: fault.reason, message: fault.message }] } });
    }
    if (stalled) {
      await new Promise((r) => setTimeout(r, 300)); // BigQuery holds the call open up to timeoutMs
      return json(res, 200, { kind: "bigquery#queryResponse", jobComplete: false,
        jobReference: { projectId: "demo", jobId: "stalled-job", location: "US" } });
    }
    const upstream = await fetch(emulatorUrl + req.url, { method: req.method, headers: { "content-type": "application/json" },
      body: req.method === "POST" ? body : undefined });
    res.writeHead(upstream.status, { "content-type": "application/json" });
    res.end(await upstream.text());
  });
  const url = await listen(server);
  return {
    url,
    seen,
    /** The next answers, in order, are these errors. */
    inject: (...answers) => faults.push(...answers),
    faultsLeft: () => faults.length,
    setStalled: (on) => { stalled = on; },
    stop: () => new Promise((r) => server.close(r)),
  };
}
