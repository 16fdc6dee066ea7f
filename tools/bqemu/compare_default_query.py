#!/usr/bin/env python3
"""Prove that sql/default_query.sql, which prunes with the "since" parameter,
returns exactly what the unpruned reference query returns (REFERENCE_QUERY
below: the default query as it was before it used the parameter), both
wrapped as kv-sync wraps them: the same columns, rows, values and order, at
every "since" tried, compared cell by cell.

  compare_default_query.py --api http://127.0.0.1:9050 --project demo \
      [--edge-cases] [--since RFC3339 ...] [--json]

"since" values tried: the beginning of time (a full read), 1970, each
--since given (say, just before and just after a batch of changes), points
taken from the data (quantiles of updated_at; one row's exact updated_at and
1 us either side; the newest updated_at and 1 us after it), one minute ago
and now; and one resumed read (the wrapper's resume condition).

--edge-cases first loads rows the seeder cannot make (see edge_rows()):
several versions of one trackingId, NULL updated_at / inserted_at, rows
without a trackingId, events with NULL _insertedAt (recent and old, and with
NULL timestamp too), events without a visitorId, a late-arriving old event,
future timestamps.

Standard library only. Exits 1 on the first difference; --json prints a
summary object as the last line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seed import DATASET, BigQuery, fmt_us, load_rows, to_us  # noqa: E402
from verify_query import ROOT, params, run_paged, wrap  # noqa: E402

BEGINNING_OF_TIME = "0001-01-01T00:00:00.000000Z"
EPOCH = "1970-01-01T00:00:00.000000Z"

# The reference: sql/default_query.sql verbatim as of commit df328f3, before it
# pruned with the parameter (it reads every lead and every event and leaves the
# window to the wrapper). Kept here, not in sql/, only to prove the pruned
# query equal to it.
REFERENCE_QUERY = r"""
-- kv-sync default source query: one personalisation record per lead trackingId
-- (the KV key), from outbound_sales.leads plus what that visitor did on the site
-- (outbound_sales.events, visitorId = trackingId).
--
-- kv-sync wraps this query: it keeps rows whose updated_at is at or after its
-- "since" parameter (plus its resume position) and orders by (updated_at, key)
-- itself, so no ORDER BY here.
--
-- The "since" parameter is deliberately NOT used in here. The behaviour columns
-- aggregate ALL of a visitor's events, so filtering events by time would change
-- the counts, and a lead row that did not change can still need re-syncing
-- because its visitor came back. The wrapper's filter on the computed updated_at
-- is the exact cut; pushing it down would save little, since the aggregate has
-- to read every event of the visitors that qualify anyway.
--
-- Never write the parameter's name with its sigil in a comment or string here:
-- bqemulator binds parameters by a plain text search, so a mention in a comment
-- counts as a use and the query fails ("Parameter argument/count mismatch").
--
-- Runs unchanged on BigQuery and on the DuckDB-based bqemulator the tests use.
WITH
  -- Leads may hold several versions of one trackingId (append-style loads):
  -- keep the newest, or the key would get two rows and flap between them.
  ranked_leads AS (
    SELECT
      trackingId, person_name, email, company_name, company_website, job_title,
      seniority, industry, company_size, inserted_at, updated_at,
      ROW_NUMBER() OVER (
        PARTITION BY trackingId
        ORDER BY updated_at DESC, inserted_at DESC
      ) AS version_rank
    FROM outbound_sales.leads
  ),

  visits AS (
    SELECT
      visitorId,
      COUNT(DISTINCT sessionId) AS sessions,
      COUNTIF(`type` = 'pageview') AS pageviews,
      MAX(`timestamp`) AS last_visit_at,
      -- Page matches are on the URL path, so /pricing?x=1 and /pricing/enterprise
      -- count but /blog/pricing-tips and ?next=/demo do not.
      COUNTIF(`type` = 'pageview'
              AND REGEXP_CONTAINS(url, r'^(?:[a-z]+://[^/?#]+)?/pricing(?:[/?#]|$)')) AS pricing_page_visits,
      COUNTIF(`type` = 'pageview'
              AND REGEXP_CONTAINS(url, r'^(?:[a-z]+://[^/?#]+)?/demo(?:[/?#]|$)')) AS demo_page_visits,
      COUNTIF(`type` = 'form_submit') AS form_submits,
      -- When the newest event ARRIVED, not when it claims to have happened: a
      -- late-arriving old event must still move the record past the cursor, and a
      -- client clock running ahead must not push updated_at into the future.
      MAX(COALESCE(_insertedAt, `timestamp`)) AS last_event_inserted_at
    FROM outbound_sales.events
    WHERE visitorId IS NOT NULL
    GROUP BY visitorId
  ),

  records AS (
    SELECT
      l.trackingId AS key,
      -- BigQuery's GREATEST returns NULL if any argument is NULL, so both
      -- arguments are made non-NULL: leads without events keep their own
      -- updated_at instead of dropping out of every sync window.
      GREATEST(
        COALESCE(l.updated_at, l.inserted_at),
        COALESCE(v.last_event_inserted_at, l.updated_at, l.inserted_at)
      ) AS updated_at,
      l.person_name, l.email, l.company_name, l.company_website, l.job_title,
      l.seniority, l.industry, l.company_size,
      COALESCE(v.sessions, 0) AS sessions,
      COALESCE(v.pageviews, 0) AS pageviews,
      v.last_visit_at,
      COALESCE(v.pricing_page_visits, 0) AS pricing_page_visits,
      COALESCE(v.demo_page_visits, 0) AS demo_page_visits,
      COALESCE(v.form_submits, 0) AS form_submits
    FROM ranked_leads AS l
    LEFT JOIN visits AS v ON v.visitorId = l.trackingId
    WHERE l.version_rank = 1
  ),

  -- intent_score = 2*sessions + pageviews + 5*pricing_page_visits
  --                + 8*demo_page_visits + 20*form_submits, capped at 100.
  -- Buying signals (pricing, demo, forms) weigh far more than browsing. No
  -- recency term on purpose: the score may only change when updated_at does,
  -- or KV would silently go stale until the next unrelated change.
  scored AS (
    SELECT
      r.*,
      LEAST(100, 2 * sessions + pageviews + 5 * pricing_page_visits
                 + 8 * demo_page_visits + 20 * form_submits) AS intent_score
    FROM records AS r
  )

SELECT
  key, updated_at,
  person_name, email, company_name, company_website, job_title, seniority,
  industry, company_size,
  sessions, pageviews, last_visit_at, pricing_page_visits, demo_page_visits,
  form_submits, intent_score,
  -- hot (>= 25): a form submit in a visit with a few pageviews, or sustained
  -- pricing/demo interest; warm (>= 8): one pricing or demo pageview, or
  -- repeated browsing; cold: the rest, including leads never seen on the site.
  CASE
    WHEN intent_score >= 25 THEN 'hot'
    WHEN intent_score >= 8 THEN 'warm'
    ELSE 'cold'
  END AS engagement_level
FROM scored
"""

_S = 1_000_000
_DAY = 86_400 * _S


def _lead(key, updated_us, inserted_us, title="Edge Case Specialist"):
    return {"trackingId": key, "person_name": "Edge Case", "email": "edge@example.com",
            "company_name": "Edge Cases Ltd", "company_website": "https://www.edge.example",
            "job_title": title, "seniority": "Senior", "industry": "Software",
            "company_size": "11-50",
            "inserted_at": None if inserted_us is None else fmt_us(inserted_us),
            "updated_at": None if updated_us is None else fmt_us(updated_us)}


def _event(visitor, typ, ts_us, inserted_us, session="sess-edge", page="/pricing"):
    return {"type": typ, "timestamp": None if ts_us is None else fmt_us(ts_us),
            "sessionId": session, "visitorId": visitor, "url": "https://www.kvsync-demo.com" + page,
            "data": None, "_insertedAt": None if inserted_us is None else fmt_us(inserted_us)}


def edge_rows(now_us: int) -> tuple[list[dict], list[dict]]:
    """Rows the seeder cannot make, around `now_us` (the present)."""
    n, d, s = now_us, _DAY, _S
    leads = [
        # Three versions; the newest by (updated_at, inserted_at) is v2. v3 has
        # no updated_at (ranks last) but was inserted just now: it makes the key
        # a candidate, and the record (own time 20 days ago) must still drop out.
        _lead("edge-versions", n - 40 * d, n - 60 * d, "v1"),
        _lead("edge-versions", n - 20 * d, n - 60 * d, "v2"),
        _lead("edge-versions", None, n - 30 * s, "v3"),
        # An old version and a new one appended just now: the new one wins.
        _lead("edge-appended", n - 10 * d, n - 70 * d, "old"),
        _lead("edge-appended", n - 30 * s, n - 70 * d, "new"),
        # No updated_at: the lead's own time is inserted_at.
        _lead("edge-inserted-only", None, n - 5 * d),
        _lead("edge-inserted-recent", None, n - 20 * s),
        # No own time at all: updated_at NULL, kept in every window.
        _lead("edge-no-time", None, None),
        _lead("edge-no-time-events", None, None),
        # updated_at older than inserted_at: own time is updated_at (old).
        _lead("edge-updated-before-inserted", n - 40 * d, n - 10 * s),
        # No trackingId (two versions): one record with key NULL.
        _lead(None, n - 15 * d, n - 20 * d, "null key v1"),
        _lead(None, n - 3 * d, n - 20 * d, "null key v2"),
        # Old leads whose visitors send odd events (below).
        _lead("edge-null-arrival", n - 50 * d, n - 50 * d),
        _lead("edge-no-event-time", n - 50 * d, n - 50 * d),
        _lead("edge-late-event", n - 50 * d, n - 50 * d),
        _lead("edge-future-event", n - 50 * d, n - 50 * d),
        # A clock running ahead in the leads table.
        _lead("edge-future-lead", n + d, n - 50 * d),
    ]
    events = [
        _event("edge-no-time-events", "session_start", n - 9 * d, n - 9 * d, "sess-e1"),
        _event("edge-no-time-events", "pageview", n - 40 * s, n - 20 * s, "sess-e2", "/demo"),
        # _insertedAt NULL: the arrival time falls back to timestamp (one recent, one old).
        _event("edge-null-arrival", "session_start", n - 8 * d, None, "sess-e3"),
        _event("edge-null-arrival", "pageview", n - 15 * s, None, "sess-e4"),
        _event("edge-versions", "pageview", n - 30 * d, None, "sess-e5", "/demo"),
        # Neither _insertedAt nor timestamp, next to one old event.
        _event("edge-no-event-time", "pageview", None, None, "sess-e6"),
        _event("edge-no-event-time", "form_submit", n - 40 * d, n - 40 * d, "sess-e6", "/demo"),
        # An event that happened a month ago and arrived 10 s ago.
        _event("edge-late-event", "pageview", n - 30 * d, n - 10 * s, "sess-e7"),
        # Arrives "in two hours" (a clock running ahead).
        _event("edge-future-event", "pageview", n - 60 * s, n + 2 * 3600 * s, "sess-e8"),
        # No visitorId: ignored by both queries, recent and old.
        _event(None, "pageview", n - 5 * s, n - 4 * s, "sess-e9"),
        _event(None, "pageview", n - 5 * d, n - 5 * d, "sess-e9"),
        # A seeded lead's visitor seen again, arrival unknown but recent by timestamp.
        _event("lead-000010", "pageview", n - 25 * s, None, "sess-e10", "/demo"),
    ]
    return leads, events


COVERAGE_SQL = f"""
SELECT
  (SELECT COUNT(*) FROM {DATASET}.leads) AS lead_rows,
  (SELECT COUNT(*) FROM (SELECT trackingId FROM {DATASET}.leads WHERE trackingId IS NOT NULL
                         GROUP BY trackingId HAVING COUNT(*) > 1)) AS keys_with_versions,
  (SELECT COUNT(*) FROM {DATASET}.leads WHERE trackingId IS NULL) AS leads_without_key,
  (SELECT COUNT(*) FROM {DATASET}.leads WHERE updated_at IS NULL) AS leads_without_updated_at,
  (SELECT COUNT(*) FROM {DATASET}.leads WHERE updated_at IS NULL AND inserted_at IS NULL) AS leads_without_time,
  (SELECT COUNT(*) FROM {DATASET}.leads AS l WHERE NOT EXISTS (
     SELECT 1 FROM {DATASET}.events AS e WHERE e.visitorId = l.trackingId)) AS leads_without_events,
  (SELECT COUNT(*) FROM {DATASET}.events) AS event_rows,
  (SELECT COUNT(*) FROM {DATASET}.events WHERE _insertedAt IS NULL) AS events_without_insertedAt,
  (SELECT COUNT(*) FROM {DATASET}.events WHERE visitorId IS NULL) AS events_without_visitor,
  (SELECT COUNT(*) FROM {DATASET}.events AS e WHERE NOT EXISTS (
     SELECT 1 FROM {DATASET}.leads AS l WHERE l.trackingId = e.visitorId)) AS events_not_of_a_lead
"""


def coverage(bq: BigQuery) -> dict:
    res = bq.query(COVERAGE_SQL)
    names = [f["name"] for f in res["schema"]["fields"]]
    return {k: int(c["v"]) for k, c in zip(names, res["rows"][0]["f"])}


def fail(msg: str) -> None:
    print("FAIL " + msg, flush=True)
    sys.exit(1)


def cells(rows: list[dict]) -> list[list]:
    return [[c["v"] for c in r["f"]] for r in rows]


def first_difference(a: list[list], b: list[list], names: list[str]) -> str:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            cols = [f"{n}: {p!r} != {q!r}" for n, p, q in zip(names, x, y) if p != q]
            return f"row {i} (key {x[0]!r} / {y[0]!r}): " + "; ".join(cols)
    return f"{len(a)} rows != {len(b)} rows; first extra: {(a if len(a) > len(b) else b)[min(len(a), len(b))]}"


def compare(bq: BigQuery, new_sql: str, since: str, after: tuple[str, str] | None, page_rows: int):
    """Both queries wrapped, at one since; returns (rows, names) or exits."""
    resume = after is not None
    ref_schema, ref_rows, _ = run_paged(bq, wrap(REFERENCE_QUERY, resume), params(since, after), page_rows)
    new_schema, new_rows, _ = run_paged(bq, wrap(new_sql, resume), params(since, after), page_rows)
    shape = lambda s: [(f["name"], f["type"], f.get("mode", "NULLABLE")) for f in s]  # noqa: E731
    if shape(ref_schema) != shape(new_schema):
        fail(f"since={since}: columns differ:\n  reference {shape(ref_schema)}\n  pruned    {shape(new_schema)}")
    names = [f["name"] for f in ref_schema]
    a, b = cells(ref_rows), cells(new_rows)
    if a != b:
        fail(f"since={since}{' after ' + str(after) if after else ''}: results differ: "
             + first_difference(a, b, names))
    return a, names


def computed(bq: BigQuery, sql: str, since: str | None) -> int:
    """How many records the query itself builds (unwrapped): the work pruning saves."""
    body = sql.strip().rstrip(";").rstrip()
    res = bq.query(f"SELECT COUNT(*) FROM (\n{body}\n)", params(since) if since else None)
    return int(res["rows"][0]["f"][0]["v"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--api", default="http://127.0.0.1:9050")
    ap.add_argument("--project", default="demo")
    ap.add_argument("--query", default=os.path.join(ROOT, "sql", "default_query.sql"))
    ap.add_argument("--since", action="append", default=[], help="RFC 3339 (repeatable)")
    ap.add_argument("--edge-cases", action="store_true", help="load the edge-case rows first")
    ap.add_argument("--page-rows", type=int, default=10000)
    ap.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    args = ap.parse_args()
    bq = BigQuery(args.api, args.project)
    new_sql = open(args.query, encoding="utf-8").read()
    t0 = time.monotonic()

    now_us = to_us(dt.datetime.now(dt.timezone.utc))
    if args.edge_cases:
        leads, events = edge_rows(now_us)
        load_rows(bq, "leads", leads)
        load_rows(bq, "events", events)
        print(f"edge cases: loaded {len(leads)} lead rows and {len(events)} events")
    cov = coverage(bq)
    print("data: " + ", ".join(f"{k} {v}" for k, v in cov.items()))

    # The full read first: it is the reference for the data-derived points.
    full, names = compare(bq, new_sql, BEGINNING_OF_TIME, None, args.page_rows)
    times = sorted(int(r[names.index("updated_at")]) for r in full if r[names.index("updated_at")] is not None)
    if not times:
        fail("the source returned no rows with an updated_at: nothing to compare")
    q = lambda f: times[min(len(times) - 1, int(len(times) * f))]  # noqa: E731
    probe = q(0.95)
    derived = [q(0.1), q(0.5), q(0.9), q(0.99), probe - 1, probe, probe + 1,
               times[-1], times[-1] + 1, now_us - 60 * _S, now_us]
    points = [BEGINNING_OF_TIME, EPOCH] + list(args.since)
    points += [fmt_us(t) for t in derived if fmt_us(t) not in points]
    points = list(dict.fromkeys(points))

    summary = {"since": [], "rows_compared": 0, "columns": names, "coverage": cov}
    reference_all = computed(bq, REFERENCE_QUERY, None)
    for since in points:
        rows = full if since == BEGINNING_OF_TIME else compare(bq, new_sql, since, None, args.page_rows)[0]
        work = computed(bq, new_sql, since)
        summary["since"].append({"since": since, "rows": len(rows), "records_built": work,
                                 "reference_records_built": reference_all})
        summary["rows_compared"] += len(rows)
        print(f"ok   since={since}: {len(rows):5d} rows identical "
              f"(pruned query built {work} records, reference {reference_all})", flush=True)

    # A resumed read: the wrapper's resume condition on top of the window.
    since = args.since[0] if args.since else fmt_us(q(0.5))
    window = compare(bq, new_sql, since, None, args.page_rows)[0]
    resumable = [r for r in window if r[names.index("updated_at")] is not None and r[0] is not None]
    if resumable:
        mid = resumable[len(resumable) // 2]
        after = (fmt_us(int(mid[names.index("updated_at")])), mid[0])
        rows = compare(bq, new_sql, since, after, args.page_rows)[0]
        summary["rows_compared"] += len(rows)
        summary["resume"] = {"since": since, "after": list(after), "rows": len(rows)}
        print(f"ok   since={since} resumed after {after}: {len(rows)} rows identical")

    summary["seconds"] = round(time.monotonic() - t0, 1)
    print(f"ok   {summary['rows_compared']} rows x {len(names)} columns identical over "
          f"{len(points)} since values and one resumed read ({summary['seconds']} s)")
    if args.json:
        print(json.dumps(summary, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
