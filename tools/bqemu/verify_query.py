#!/usr/bin/env python3
"""Check sql/default_query.sql, wrapped exactly as kv-sync wraps it, against a
seeded emulator (or BigQuery): every row once, in (updated_at, key) order,
values equal to an independent recomputation in Python from the raw tables,
microsecond-exact cursor filters, and the wire JSON type of every column.

  verify_query.py --api http://127.0.0.1:9050 --project demo [--page-rows 10000]

Standard library only. Exits non-zero on the first mismatch.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seed import DATASET, BigQuery, fmt_us  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EPOCH = "1970-01-01T00:00:00.000000Z"


def wrap(user_sql: str, resume: bool = False) -> str:
    """Byte-for-byte the SQL src/engine/source_query.rs builds."""
    body = user_sql.strip().rstrip(";").rstrip()
    src = "kv_sync_source"
    sql = (f"SELECT * EXCEPT (kv_sync_rank) FROM (\n"
           f"SELECT {src}.*, ROW_NUMBER() OVER (PARTITION BY {src}.key\n"
           f"ORDER BY {src}.updated_at DESC NULLS LAST, TO_JSON_STRING({src}) DESC) AS kv_sync_rank\n"
           f"FROM (\n{body}\n) AS {src}\n"
           f"WHERE {src}.updated_at >= @since OR {src}.updated_at IS NULL\n"
           f") AS kv_sync_rows\nWHERE (kv_sync_rank = 1 OR key IS NULL)")
    if resume:
        sql += "\n  AND (updated_at > @after_updated_at OR (updated_at = @after_updated_at AND key > @after_key))"
    return sql + "\nORDER BY updated_at ASC NULLS FIRST, key"


def params(since: str, after: tuple[str, str] | None = None) -> list[dict]:
    ps = [{"name": "since", "parameterType": {"type": "TIMESTAMP"}, "parameterValue": {"value": since}}]
    if after:
        ps += [{"name": "after_updated_at", "parameterType": {"type": "TIMESTAMP"},
                "parameterValue": {"value": after[0]}},
               {"name": "after_key", "parameterType": {"type": "STRING"},
                "parameterValue": {"value": after[1]}}]
    return ps


def run_paged(bq: BigQuery, sql: str, ps: list[dict], page_rows: int):
    """One job, read page by page as kv-sync does. Returns (schema, rows, timings)."""
    t0 = time.monotonic()
    res = bq.query(sql, ps, max_results=page_rows)
    first = time.monotonic() - t0
    job = res["jobReference"]["jobId"]
    schema = res["schema"]["fields"]
    rows = list(res.get("rows", []))
    pages = 1
    token = res.get("pageToken")
    while token:
        res = bq._call("GET", f"/queries/{job}?maxResults={page_rows}&pageToken={urllib.parse.quote(token)}"
                              "&formatOptions.useInt64Timestamp=true")
        rows.extend(res.get("rows", []))
        token = res.get("pageToken")
        pages += 1
    return schema, rows, {"first_page_s": first, "total_s": time.monotonic() - t0, "pages": pages,
                          "total_rows": int(res.get("totalRows", len(rows)))}


PRICING = re.compile(r"^(?:[a-z]+://[^/?#]+)?/pricing(?:[/?#]|$)")
DEMO = re.compile(r"^(?:[a-z]+://[^/?#]+)?/demo(?:[/?#]|$)")


def expected_records(bq: BigQuery) -> list[dict]:
    """The default query's result recomputed in Python from the raw tables."""
    leads = {}
    for r in bq.query_rows(f"SELECT trackingId, person_name, email, company_name, company_website, "
                           f"job_title, seniority, industry, company_size, inserted_at, updated_at "
                           f"FROM {DATASET}.leads"):
        key = r[0]
        rank = (int(r[10]) if r[10] else -1, int(r[9]) if r[9] else -1)
        if key not in leads or rank > leads[key][0]:
            leads[key] = (rank, r)
    agg = collections.defaultdict(lambda: {"sessions": set(), "pageviews": 0, "last_visit_at": None,
                                           "pricing": 0, "demo": 0, "forms": 0, "last_ins": None})
    for typ, ts, sess, visitor, url, ins in bq.query_rows(
            f"SELECT `type`, `timestamp`, sessionId, visitorId, url, _insertedAt FROM {DATASET}.events"):
        if visitor is None:
            continue
        a = agg[visitor]
        if sess is not None:
            a["sessions"].add(sess)
        ts = int(ts) if ts else None
        if typ == "pageview":
            a["pageviews"] += 1
            a["pricing"] += bool(url and PRICING.search(url))
            a["demo"] += bool(url and DEMO.search(url))
        a["forms"] += typ == "form_submit"
        if ts is not None and (a["last_visit_at"] is None or ts > a["last_visit_at"]):
            a["last_visit_at"] = ts
        li = int(ins) if ins else ts
        if li is not None and (a["last_ins"] is None or li > a["last_ins"]):
            a["last_ins"] = li
    out = []
    for key, (_, r) in leads.items():
        own = int(r[10]) if r[10] else (int(r[9]) if r[9] else None)
        a = agg.get(key)
        upd = own if a is None or a["last_ins"] is None else max(own, a["last_ins"])
        s = len(a["sessions"]) if a else 0
        pv, pr, de, fo = (a["pageviews"], a["pricing"], a["demo"], a["forms"]) if a else (0, 0, 0, 0)
        score = min(100, 2 * s + pv + 5 * pr + 8 * de + 20 * fo)
        out.append({
            "key": key, "updated_at": upd,
            "person_name": r[1], "email": r[2], "company_name": r[3], "company_website": r[4],
            "job_title": r[5], "seniority": r[6], "industry": r[7], "company_size": r[8],
            "sessions": s, "pageviews": pv, "last_visit_at": a["last_visit_at"] if a else None,
            "pricing_page_visits": pr, "demo_page_visits": de, "form_submits": fo,
            "intent_score": score,
            "engagement_level": "hot" if score >= 25 else "warm" if score >= 8 else "cold",
        })
    out.sort(key=lambda x: (x["updated_at"], x["key"]))
    return out


def decode(schema: list[dict], row: dict) -> dict:
    out = {}
    for f, cell in zip(schema, row["f"]):
        v = cell["v"]
        if v is not None and f["type"] in ("INTEGER", "INT64", "TIMESTAMP"):
            v = int(v)
        out[f["name"]] = v
    return out


def check(cond: bool, msg: str) -> None:
    print(("ok   " if cond else "FAIL ") + msg, flush=True)
    if not cond:
        sys.exit(1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--api", default="http://127.0.0.1:9050")
    ap.add_argument("--project", default="demo")
    ap.add_argument("--query", default=os.path.join(ROOT, "sql", "default_query.sql"))
    ap.add_argument("--page-rows", type=int, default=10000)
    args = ap.parse_args()
    bq = BigQuery(args.api, args.project)
    user_sql = open(args.query, encoding="utf-8").read()

    expected = expected_records(bq)
    schema, rows, t = run_paged(bq, wrap(user_sql), params(EPOCH), args.page_rows)
    print(f"wrapped query: {t['total_rows']} rows, {t['pages']} pages of {args.page_rows}: "
          f"first page {t['first_page_s']:.2f}s, all pages {t['total_s']:.2f}s")
    got = [decode(schema, r) for r in rows]

    # Wire types: every non-null cell of every column.
    types = {f["name"]: (f["type"], f.get("mode", "NULLABLE"), set()) for f in schema}
    for r in rows:
        for f, cell in zip(schema, r["f"]):
            types[f["name"]][2].add(type(cell["v"]).__name__)
    for name, (typ, mode, seen) in types.items():
        print(f"     column {name:20s} {typ:9s} {mode:8s} JSON {sorted(seen)}")

    keys = [g["key"] for g in got]
    check(len(keys) == len(set(keys)), f"every key once ({len(keys)} rows)")
    check(len(got) == t["total_rows"] == len(expected), f"row count = expected ({len(expected)})")
    order = [(g["updated_at"], g["key"]) for g in got]
    check(order == sorted(order), "ordered by (updated_at, key)")
    bad = [(g, e) for g, e in zip(got, expected) if g != e]
    check(not bad, "values equal the Python recomputation" + (f": first diff {bad[0]}" if bad else ""))

    # Microsecond cursor semantics on neighbours that differ by exactly 1 µs.
    by_ts = collections.Counter(g["updated_at"] for g in got)
    pair = next(((a, b) for a, b in zip(got, got[1:])
                 if b["updated_at"] - a["updated_at"] == 1), None)
    if pair:
        a, b = pair
        _, rows2, _ = run_paged(bq, wrap(user_sql), params(fmt_us(b["updated_at"])), args.page_rows)
        got2 = [decode(schema, r)["key"] for r in rows2]
        check(a["key"] not in got2 and got2[:by_ts[b["updated_at"]]].count(b["key"]) == 1,
              f"since={fmt_us(b['updated_at'])} keeps {b['key']} and drops {a['key']} (1 µs earlier)")
        _, rows3, _ = run_paged(bq, wrap(user_sql, resume=True), params(EPOCH, (fmt_us(a["updated_at"]), a["key"])),
                                args.page_rows)
        got3 = [decode(schema, r)["key"] for r in rows3]
        check(got3 == keys[keys.index(a["key"]) + 1:], f"resume after ({fmt_us(a['updated_at'])}, {a['key']}) "
                                                       f"returns exactly the rows after it ({len(got3)})")
    else:
        print("skip 1 µs neighbour check: no such pair in the data")

    # Resume inside a group of equal updated_at values (cursor ties).
    ts, n = by_ts.most_common(1)[0]
    if n > 2:
        tied = [g["key"] for g in got if g["updated_at"] == ts]
        after = (fmt_us(ts), tied[n // 2])
        _, rows4, _ = run_paged(bq, wrap(user_sql, resume=True), params(fmt_us(ts - 600_000_000), after),
                                args.page_rows)
        got4 = [decode(schema, r)["key"] for r in rows4]
        want = keys[keys.index(tied[n // 2]) + 1:]
        check(got4 == want, f"resume inside a tie of {n} rows at {fmt_us(ts)} after key {tied[n // 2]}: "
                            f"{len(got4)} rows, none skipped or repeated")
    # Small pages: every row exactly once, in order.
    _, rows5, t5 = run_paged(bq, wrap(user_sql), params(EPOCH), 997)
    check([decode(schema, r)["key"] for r in rows5] == keys,
          f"pages of 997 rows ({t5['pages']} pages) give the same rows in the same order")
    return 0


if __name__ == "__main__":
    sys.exit(main())
