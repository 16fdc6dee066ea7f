// A proxy in front of the BigQuery emulator for failures the emulator cannot
// produce: BigQuery refusing the unpruned read of a whole table (400
// resourcesExceeded, as the real service answers when the wrapper's global
// ORDER BY exceeds its memory), and pages that are slow to arrive. Every
// other request passes through unchanged, but for `knobs.cost`: fields
// (`totalBytesBilled`, `totalBytesProcessed`, `cacheHit`) added to every
// complete query answer, as BigQuery reports them and the emulator does
// not; and `knobs.late`: jobs.query answers "not complete yet", the job's
// results then report no `totalBytesBilled` (as getQueryResults never
// does), and jobs.get reports the given figures in `statistics.query`.
// `knobs.stallPages`: that many getQueryResults calls for a later page
// (`pageToken`) get no answer at all; `stalled` records when each arrived
// and when the client gave up on it (closed the connection).
// It records every request it
// receives (`requests`: method, url, body text) and `queries()` gives the
// parsed bodies of the jobs.query calls, in order.
import { once } from "node:events";
import { createServer } from "node:http";

/** `@since` of a jobs.query body, if it reads from the beginning of time. */
function readsEverything(body) {
  const since = body?.queryParameters?.find((p) => p.name === "since")?.parameterValue?.value;
  return typeof since === "string" && since.startsWith("0001-");
}

/** An answer as BigQuery gives it for a job slower than jobs.query's wait. */
function late(req, text, figures) {
  const answer = JSON.parse(text);
  if (req.method === "POST" && /\/queries(\?|$)/.test(req.url)) {
    return JSON.stringify({ kind: answer.kind, jobReference: answer.jobReference, jobComplete: false });
  }
  if (req.method === "GET" && /\/queries\//.test(req.url)) {
    const { totalBytesBilled, ...results } = answer;
    return JSON.stringify({ ...results, totalBytesProcessed: figures.totalBytesProcessed, cacheHit: figures.cacheHit });
  }
  if (req.method === "GET" && /\/jobs\/[^/?]+(\?|$)/.test(req.url)) {
    const statistics = { ...answer.statistics, query: { ...answer.statistics?.query, ...figures } };
    return JSON.stringify({ ...answer, statistics });
  }
  return text;
}

export async function startBigQueryProxy(emulatorUrl) {
  const knobs = { failFullReads: false, pageDelayMs: 0, refused: 0, cost: null, late: null, stallPages: 0 };
  const requests = [];
  const stalled = [];
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const raw = Buffer.concat(chunks);
    requests.push({ method: req.method, url: req.url, body: raw.toString(), at: Date.now() });
    if (knobs.stallPages > 0 && req.method === "GET" && req.url.includes("pageToken=")) {
      knobs.stallPages -= 1;
      const stall = { at: Date.now(), closedAt: null };
      stalled.push(stall);
      res.on("close", () => (stall.closedAt = Date.now()));
      return;
    }
    if (knobs.failFullReads && req.method === "POST" && req.url.endsWith("/queries")) {
      let body = null;
      try {
        body = JSON.parse(raw.toString());
      } catch {
        // not JSON: the emulator answers it
      }
      if (readsEverything(body)) {
        knobs.refused += 1;
        res.writeHead(400, { "content-type": "application/json" });
        const message = "Resources exceeded during query execution: The query could not be executed in the allotted memory.";
        return res.end(JSON.stringify({ error: { code: 400, message, errors: [{ reason: "resourcesExceeded", message }] } }));
      }
    }
    const upstream = await fetch(`${emulatorUrl}${req.url}`, {
      method: req.method,
      headers: { "content-type": req.headers["content-type"] ?? "application/json" },
      body: ["GET", "HEAD"].includes(req.method) ? undefined : raw,
    });
    let text = await upstream.text();
    if (knobs.cost && upstream.ok && /\/queries(\?|\/|$)/.test(req.url)) {
      const answer = JSON.parse(text);
      if (answer.jobComplete) text = JSON.stringify({ ...answer, ...knobs.cost });
    }
    if (knobs.late && upstream.ok) text = late(req, text, knobs.late);
    if (knobs.pageDelayMs && text.includes('"rows"')) await new Promise((r) => setTimeout(r, knobs.pageDelayMs));
    res.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "application/json" });
    res.end(text);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    knobs,
    requests,
    stalled,
    /** The jobs.query request bodies received so far, parsed, oldest first. */
    queries: () => requests.filter((r) => r.method === "POST" && /\/queries(\?|$)/.test(r.url)).map((r) => JSON.parse(r.body)),
    stop: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(r));
    },
  };
}
