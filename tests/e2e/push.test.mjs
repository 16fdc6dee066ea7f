// Live sync end to end (SPEC "Live sync"): Pub/Sub push deliveries into
// `POST /push`, authenticated by Google's OIDC tokens (a local double of the
// certificate endpoint, keys made at test time), written into KV exactly as
// the pull would write them, newest `updated_at` first, one write a second
// per key.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { SECRET, sleep, startEmulator, startWorker, waitFor } from "./support/stack.mjs";
import { at, sourceTable, valueOf } from "./support/table.mjs";
import { envelope, nowSeconds, push, startOidc, timestampJson, toJsonString } from "./support/oidc.mjs";
import {
  assertNothingWritten, deliver, expectOutcome, expectRefused, message, MICROS, observe, pull, pushStatus, RFC3339, snapshot, stamp,
} from "./support/push_checks.mjs";

let emulator;
before(async () => {
  emulator = await startEmulator();
});
after(async () => emulator?.stop());

describe("POST /push", () => {
  let oidc;
  let table;
  let worker;
  let pulled;
  /** The first pull, once: pushes are typed by its result schema. */
  const ready = () => (pulled ??= pull(worker));

  before(async () => {
    oidc = await startOidc();
    table = await sourceTable(emulator.url);
    await table.insert([{ key: "seed", updated_at: at(-120), name: "Seed", visits: 1 }]);
    worker = await startWorker({
      vars: { BIGQUERY_API_BASE: emulator.url, SYNC_QUERY: table.query, SYNC_INTERVAL_SECONDS: "3600", ...oidc.vars },
    });
  });
  after(async () => {
    await worker?.dispose();
    await oidc?.stop();
  });

  test("before any pull has completed a push is 503 and writes nothing; after one, the same delivery is written", async (t) => {
    if (pulled) return t.skip("a pull has already completed");
    const row = { key: "early", updated_at: at(-60), name: "Early", visits: 1 };
    const early = await push(worker, message(row), oidc.mint());
    expectRefused(early, 503, "a push before any pull");
    assert.equal(await worker.kv.get("early"), null);
    await ready();
    expectOutcome(await push(worker, message(row), oidc.mint()), "written", "early");
    assert.deepEqual(await worker.kv.get("early", "json"), valueOf(row));
  });

  test("Google's keys are fetched once and kept; a rotated key is fetched again, unknown kids at most once a minute", { timeout: 150_000 }, async () => {
    await ready();
    const row = (key) => ({ key, updated_at: at(-30), name: key, visits: 1 });
    expectOutcome(await deliver(worker, message(row("keys-0")), oidc.mint()), "written", "keys-0");
    const kept = oidc.fetches;
    assert.ok(kept >= 1, "the keys were fetched");
    for (let i = 1; i <= 10; i++) expectOutcome(await push(worker, message(row(`keys-${i}`)), oidc.mint()), "written", `keys-${i}`);
    assert.equal(oidc.fetches, kept, "ten more pushes, no fetch: the keys are kept as max-age allows");

    // Google rotates its keys: a token under the new kid makes the Worker
    // fetch them again (at once, or once a minute has passed since it last
    // did); Pub/Sub delivers the refused message again until then.
    const oldKid = oidc.kid;
    oidc.rotate();
    const rotated = message(row("keys-rotated"));
    const token = oidc.mint();
    const answer = await waitFor(async () => {
      const a = await push(worker, rotated, token);
      return a.status !== 401 && a;
    }, { timeoutMs: 75_000, everyMs: 1_000, what: "a token signed with the rotated key to be accepted" });
    expectOutcome(answer, "written", "keys-rotated");
    assert.equal(oidc.fetches, kept + 1, "one fetch found the new key");

    // Tokens under kids nobody lists, in a burst: refused, and no fetch each.
    const fetched = oidc.fetches;
    for (let i = 0; i < 5; i++) {
      const a = await push(worker, message(row(`keys-unknown-${i}`)), oidc.mint({}, { key: "stranger", kid: `unknown-kid-${i}` }));
      expectRefused(a, 401, `unknown kid ${i}`);
      assert.equal(await worker.kv.get(`keys-unknown-${i}`), null);
    }
    assert.equal(oidc.fetches, fetched, "unknown kids within a minute of the last fetch fetch nothing");

    // The key before the rotation is still listed, and still good.
    expectOutcome(await push(worker, message(row("keys-old-kid")), oidc.mint({}, { kid: oldKid })), "written", "keys-old-kid");
    assert.equal(oidc.fetches, fetched);
  });

  test("every token that is not Google's, for this audience and service account, is 401 and changes nothing", async () => {
    await ready();
    const n = nowSeconds();
    const cases = [
      ["no Authorization header", null],
      ["the webhook's bearer (EVENT_SIGNING_SECRET)", SECRET],
      ["not a JWT", "not-a-jwt"],
      ["two parts, not three", oidc.mint({}, { malformed: true })],
      ["three parts that are not JSON", "a.b.c"],
      ["alg HS256, keyed with Google's public key", oidc.mint({}, { alg: "HS256" })],
      ["alg none", oidc.mint({}, { alg: "none" })],
      ["a kid the JWKS does not list", oidc.mint({}, { key: "stranger", kid: "no-such-kid" })],
      ["a listed kid, signed by another key", oidc.mint({}, { key: "stranger" })],
      ["claims changed after signing", oidc.mint({}, { tamper: true })],
      ["another issuer", oidc.mint({ iss: "https://evil.example.com" })],
      ["an issuer with the wrong scheme", oidc.mint({ iss: "http://accounts.google.com" })],
      ["another audience", oidc.mint({ aud: "https://elsewhere.test/push" })],
      ["no audience", oidc.mint({ aud: undefined })],
      ["expired 120 s ago", oidc.mint({ iat: n - 3720, exp: n - 120 })],
      ["issued 120 s in the future", oidc.mint({ iat: n + 120, exp: n + 3720 })],
      ["no exp", oidc.mint({ exp: undefined })],
      ["another service account", oidc.mint({ email: "someone-else@demo.iam.gserviceaccount.com" })],
      ["no email", oidc.mint({ email: undefined })],
      ["email not verified", oidc.mint({ email_verified: false })],
    ];
    const unchanged = await observe(worker);
    const received = (await pushStatus(worker)).received;
    for (const [i, [what, token]] of cases.entries()) {
      const key = `refused-${i}`;
      const answer = await push(worker, message({ key, updated_at: at(-30), name: what, visits: i }), token);
      expectRefused(answer, 401, what);
      assert.equal(await worker.kv.get(key), null, `${what}: nothing written`);
      await assertNothingWritten(worker, unchanged, what);
    }
    assert.equal((await pushStatus(worker)).received, received, "push.received counts authenticated deliveries only");
    // The same delivery with Google's token is written: the token was all that was wrong.
    const row = { key: "refused-0", updated_at: at(-30), name: "now with a token", visits: 0 };
    expectOutcome(await push(worker, message(row), oidc.mint()), "written", "refused-0");
    assert.deepEqual(await worker.kv.get("refused-0", "json"), valueOf(row));
  });

  test("tokens within the 60 s skew, and the issuer without its scheme, are accepted", async () => {
    await ready();
    const n = nowSeconds();
    const cases = [
      ["expired 30 s ago", oidc.mint({ iat: n - 3630, exp: n - 30 })],
      ["issued 30 s in the future", oidc.mint({ iat: n + 30, exp: n + 3630 })],
      ["issuer accounts.google.com", oidc.mint({ iss: "accounts.google.com" })],
    ];
    for (const [i, [what, token]] of cases.entries()) {
      const row = { key: `skew-${i}`, updated_at: at(-30), name: what, visits: i };
      const answer = await push(worker, message(row), token);
      assert.equal(answer.status, 200, `${what}: ${JSON.stringify(answer.body)}`);
      expectOutcome(answer, "written", row.key);
      assert.deepEqual(await worker.kv.get(row.key, "json"), valueOf(row), what);
    }
  });

  test("a body that is not Pub/Sub's envelope is 400, one over 10 MiB is 413, a 9 MiB one is written; GET is 405, an unknown sync 404", async () => {
    await ready();
    const token = oidc.mint();
    const unchanged = await observe(worker);
    const row = { key: "envelope-ok", updated_at: at(-30), name: "Ada", visits: 1 };
    const data = Buffer.from(toJsonString(row)).toString("base64");
    const cases = [
      ["a body that is not JSON", "this is not JSON"],
      ["an empty object", {}],
      ["the row itself, unwrapped", toJsonString(row)],
      ["no message.data", { message: { messageId: "1", attributes: {} }, subscription: "projects/demo/subscriptions/kv-sync-push" }],
      ["message.data that is not base64", { message: { data: "%%% not base64 %%%", messageId: "2" }, subscription: "s" }],
    ];
    for (const [what, body] of cases) {
      expectRefused(await push(worker, body, token), 400, what);
      await assertNothingWritten(worker, unchanged, what);
    }
    const get = await worker.call("/push", { headers: { authorization: `Bearer ${token}` } });
    assert.equal(get.status, 405);
    assert.match(get.headers.get("allow") ?? "", /POST/);
    const elsewhere = await push(worker, { message: { data, messageId: "3" }, subscription: "s" }, token, "?sync=nope");
    expectRefused(elsewhere, 404, "an unknown sync");

    // Pub/Sub's own limit is 10 MiB a message.
    const huge = { key: "envelope-huge", updated_at: at(-30), name: "x".repeat(8 * 1024 * 1024), visits: 1 };
    const over = JSON.stringify(message(huge));
    assert.ok(over.length > 10 * 1024 * 1024);
    expectRefused(await push(worker, over, token), 413, "a body over 10 MiB");
    await assertNothingWritten(worker, unchanged, "a body over 10 MiB");

    const big = { key: "envelope-big", updated_at: at(-30), name: "y".repeat(6_500_000), visits: 2 };
    const under = JSON.stringify(message(big));
    assert.ok(under.length > 8 * 1024 * 1024 && under.length < 10 * 1024 * 1024);
    expectOutcome(await push(worker, under, token), "written", "envelope-big");
    assert.deepEqual(await worker.kv.get("envelope-big", "json"), valueOf(big));
  });

  test("a pushed row is the very value and metadata the pull writes for it: the next pull writes nothing, and the cursor never moved", async () => {
    await ready();
    const rows = [
      { key: "typed-int", updated_at: stamp(-30, 12), name: "Ada", visits: 42 },
      { key: "typed-big", updated_at: stamp(-29, 345), name: 'Grace "Hopper" ü ✓', visits: "9007199254740993" },
      { key: "typed-neg", updated_at: stamp(-28, 1), name: "", visits: -5 },
    ];
    const { body: before } = await worker.status();
    const { metadata: seedMetadata } = await worker.kv.getWithMetadata("seed");
    const token = oidc.mint();
    for (const row of rows) expectOutcome(await deliver(worker, message(row), token), "written", row.key);
    const written = {};
    for (const row of rows) {
      const { value, metadata } = await worker.kv.getWithMetadata(row.key);
      assert.deepEqual(JSON.parse(value), valueOf(row), row.key);
      assert.equal(metadata.updated_at, timestampJson(row.updated_at), `${row.key}: updated_at to the microsecond`);
      assert.match(metadata.updated_at, MICROS);
      assert.match(metadata.synced_at, RFC3339);
      assert.deepEqual(Object.keys(metadata).sort(), Object.keys(seedMetadata).sort(), "the metadata fields a pull writes");
      written[row.key] = { value, metadata };
    }
    assert.equal(typeof JSON.parse(written["typed-big"].value).visits, "string", "an INT64 beyond 2^53 stays exact, as a string");
    assert.deepEqual((await worker.status()).body.cursor, before.cursor, "pushes never move the pull cursor");

    // The same rows reach the source table, and the pull reads them.
    await table.insert(rows);
    const run = await pull(worker);
    assert.ok(run.rows_read >= rows.length, JSON.stringify(run));
    assert.equal(run.rows_written, 0, `the pull found every pushed row written: ${JSON.stringify(run)}`);
    assert.equal(run.rows_failed, 0);
    const { body: status } = await worker.status();
    assert.equal(status.last_run.id, run.id);
    assert.equal(status.last_run.rows_written, 0);
    for (const row of rows) {
      const { value, metadata } = await worker.kv.getWithMetadata(row.key);
      assert.deepEqual({ value, metadata }, written[row.key], `${row.key} was not written again`);
    }
  });

  test("the newest updated_at wins: an older row, a redelivery and an older delete change nothing; the delete of the last write deletes", async () => {
    await ready();
    const token = oidc.mint();
    const v1 = { key: "newest", updated_at: stamp(-20, 100), name: "v1", visits: 1 };
    const v2 = { ...v1, updated_at: stamp(-10, 200), name: "v2", visits: 2 };
    const second = message(v2);
    expectOutcome(await deliver(worker, second, token), "written", "newest");
    expectOutcome(await deliver(worker, message(v1), token), "stale", "newest");
    const kept = await worker.kv.getWithMetadata("newest");
    assert.deepEqual(JSON.parse(kept.value), valueOf(v2), "the newer row stays");
    expectOutcome(await deliver(worker, second, token), "unchanged", "newest");
    assert.deepEqual(await worker.kv.getWithMetadata("newest"), kept, "a redelivery writes nothing");

    // CHANGES() rows: a delete of the older version is stale,
    const olderDelete = message(v1, { _CHANGE_TYPE: "DELETE", _CHANGE_TIMESTAMP: at(-5) });
    expectOutcome(await deliver(worker, olderDelete, token), "stale", "newest");
    assert.deepEqual(await worker.kv.getWithMetadata("newest"), kept, "an older delete deletes nothing");
    // the delete of the version last written deletes,
    const lastDelete = message(v2, { _CHANGE_TYPE: "DELETE", _CHANGE_TIMESTAMP: at(-1) });
    expectOutcome(await deliver(worker, lastDelete, token), "deleted", "newest");
    assert.equal(await worker.kv.get("newest"), null);
    // and the older row, delivered late once more, does not bring it back.
    expectOutcome(await deliver(worker, message(v1), token), "stale", "newest");
    assert.equal(await worker.kv.get("newest"), null);
  });

  test("no _CHANGE_ column reaches the value; a row with deleted: true deletes", async () => {
    await ready();
    const token = oidc.mint();
    const inserted = { key: "changes", updated_at: stamp(-15, 5), name: "Inserted", visits: 7 };
    expectOutcome(await deliver(worker, message(inserted, { _CHANGE_TYPE: "INSERT", _CHANGE_TIMESTAMP: at(-14) }), token), "written", "changes");
    assert.deepEqual(await worker.kv.get("changes", "json"), valueOf(inserted), "exactly the row's columns");
    const updated = { ...inserted, updated_at: stamp(-10, 6), name: "Updated", visits: 8 };
    expectOutcome(await deliver(worker, message(updated, { _CHANGE_TYPE: "UPDATE", _CHANGE_TIMESTAMP: at(-9) }), token), "written", "changes");
    assert.deepEqual(await worker.kv.get("changes", "json"), valueOf(updated));
    const { metadata } = await worker.kv.getWithMetadata("changes");
    assert.ok(!Object.keys(metadata).some((k) => k.startsWith("_CHANGE_")), JSON.stringify(metadata));

    const gone = { ...updated, updated_at: stamp(-5, 7), deleted: true };
    expectOutcome(await deliver(worker, message(gone), token), "deleted", "changes");
    assert.equal(await worker.kv.get("changes"), null);
  });

  test("a push for a key written less than a second ago is 503; delivered again a second later, it is written", async () => {
    await ready();
    const token = oidc.mint();
    const first = { key: "rate", updated_at: stamp(-10), name: "first", visits: 1 };
    const second = { ...first, updated_at: stamp(-9), name: "second", visits: 2 };
    expectOutcome(await push(worker, message(first), token), "written", "rate");
    const again = message(second);
    const busy = await push(worker, again, token);
    expectRefused(busy, 503, "a second write within the second");
    assert.deepEqual(await worker.kv.get("rate", "json"), valueOf(first));
    await sleep(1100);
    expectOutcome(await push(worker, again, token), "written", "rate");
    assert.deepEqual(await worker.kv.get("rate", "json"), valueOf(second));
    const writes = await waitFor(() => {
      const e = worker.events("push_written").filter((x) => x.key === "rate");
      return e.length >= 2 && e;
    }, { timeoutMs: 5_000, what: "two push_written events for `rate`" });
    assert.equal(writes.length, 2, JSON.stringify(writes));
    assert.ok(writes[1]._at - writes[0]._at >= 900, `writes ${writes[1]._at - writes[0]._at} ms apart`);
  });

  test("a burst of five rows for one key ends with the newest in KV, written at most once a second", { timeout: 60_000 }, async () => {
    await ready();
    const key = "burst";
    const versions = Array.from({ length: 5 }, (_, i) => ({ key, updated_at: stamp(-30 + i, i), name: `v${i + 1}`, visits: i + 1 }));
    const token = oidc.mint();
    let pending = versions.map((v) => message(v));
    const outcomes = [];
    // As fast as possible, all at once; then, like Pub/Sub, each refused
    // (503) delivery again a little over a second later, until acknowledged.
    for (let round = 0; pending.length; round++) {
      assert.ok(round < 10, `${pending.length} still refused after 10 rounds`);
      if (round) await sleep(1100);
      const answers = await Promise.all(pending.map((body) => push(worker, body, token)));
      const refused = [];
      answers.forEach((answer, i) => {
        if (answer.status === 503) return refused.push(pending[i]);
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        assert.equal(answer.body.key, key);
        outcomes.push(answer.body.outcome);
      });
      pending = refused;
    }
    assert.ok(outcomes.every((o) => ["written", "stale", "unchanged"].includes(o)), outcomes.join(", "));
    const newest = versions.at(-1);
    const { value, metadata } = await worker.kv.getWithMetadata(key);
    assert.deepEqual(JSON.parse(value), valueOf(newest), "the newest row is in KV");
    assert.equal(metadata.updated_at, timestampJson(newest.updated_at));
    const count = outcomes.filter((o) => o === "written").length;
    assert.ok(count >= 1);
    const writes = await waitFor(() => {
      const e = worker.events("push_written").filter((x) => x.key === key);
      return e.length >= count && e;
    }, { timeoutMs: 5_000, what: `${count} push_written events` });
    assert.equal(writes.length, count, JSON.stringify(writes));
    const times = writes.map((e) => e._at).sort((a, b) => a - b);
    for (let i = 1; i < times.length; i++) {
      assert.ok(times[i] - times[i - 1] >= 900, `writes ${i} and ${i + 1} only ${times[i] - times[i - 1]} ms apart`);
    }
  });

  test("rows that can never be written are quarantined into failed_rows and acknowledged", async () => {
    await ready();
    const token = oidc.mint();
    const kv = await snapshot(worker.kv);
    const { body: before } = await worker.status();
    const longKey = "é".repeat(257); // 257 characters, 514 bytes
    const bad = [
      ["a JSON array", [1, 2]],
      ["a JSON string", JSON.stringify("bad-a-string")],
      ["text that is not JSON", "not json {"],
      ["a null key", toJsonString({ key: null, updated_at: at(-5), name: "no key" })],
      ["no key", JSON.stringify({ updated_at: timestampJson(at(-5)), name: "none", visits: 0, deleted: false })],
      ["no updated_at", JSON.stringify({ key: "bad-no-updated-at", name: "x", visits: 1, deleted: false })],
      ["a null updated_at", toJsonString({ key: "bad-null-updated-at", updated_at: null })],
      ["a key over 512 bytes", toJsonString({ key: longKey, updated_at: at(-5) })],
    ];
    for (const [what, data] of bad) {
      const answer = await push(worker, envelope(data), token);
      assert.equal(answer.status, 200, `${what}: ${JSON.stringify(answer.body)}`);
      assert.equal(answer.body.success, true, what);
      assert.equal(answer.body.outcome, "failed", `${what}: ${JSON.stringify(answer.body)}`);
    }
    assert.deepEqual(await snapshot(worker.kv), kv, "KV is as it was");
    const { body: after } = await worker.status();
    assert.equal(after.failed_rows.count, before.failed_rows.count + bad.length, JSON.stringify(after.failed_rows));
    assert.equal(after.push.failed, before.push.failed + bad.length);
    const reasons = Object.fromEntries(after.failed_rows.recent.map((f) => [f.key, f.reason]));
    assert.match(reasons["bad-no-updated-at"] ?? "", /updated_at/);
    assert.match(reasons["bad-null-updated-at"] ?? "", /updated_at/);
    assert.ok(after.failed_rows.recent.some((f) => /512/.test(f.reason)), "the long key's reason names the limit");
  });

  test("/status counts what /push did", async () => {
    await ready();
    const token = oidc.mint();
    const { body: { push: before } } = await worker.status();
    for (const name of ["received", "written", "deleted", "unchanged", "stale", "failed"]) assert.equal(typeof before[name], "number", name);
    const started = Date.now();
    const a0 = { key: "count-a", updated_at: stamp(-20), name: "a0", visits: 0 };
    const a1 = { ...a0, updated_at: stamp(-10), name: "a1", visits: 1 };
    const b = { key: "count-b", updated_at: stamp(-10), name: "b", visits: 2 };
    const first = message(a1);
    expectOutcome(await push(worker, first, token), "written");
    expectOutcome(await push(worker, first, token), "unchanged");
    expectOutcome(await push(worker, message(a0), token), "stale");
    await sleep(1100); // a second after the write, the delete is not held back
    expectOutcome(await push(worker, message(a1, { _CHANGE_TYPE: "DELETE", _CHANGE_TIMESTAMP: at(-1) }), token), "deleted");
    expectOutcome(await push(worker, envelope(toJsonString({ key: null, updated_at: at(-5), name: "count-bad" })), token), "failed");
    expectOutcome(await push(worker, message(b), token), "written");
    const after = await pushStatus(worker);
    const delta = Object.fromEntries(["received", "written", "deleted", "unchanged", "stale", "failed"].map((n) => [n, after[n] - before[n]]));
    assert.deepEqual(delta, { received: 6, written: 2, deleted: 1, unchanged: 1, stale: 1, failed: 1 });
    assert.match(after.last_at, RFC3339);
    const last = Date.parse(after.last_at);
    assert.ok(last >= started - 1000 && last <= Date.now() + 1000, `last_at ${after.last_at}`);
  });
});
