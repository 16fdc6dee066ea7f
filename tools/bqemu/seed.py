#!/usr/bin/env python3
"""Seed the BigQuery emulator with demo leads and website events for kv-sync.

Creates dataset `outbound_sales` with tables `leads` and `events` and loads
generated, realistic-looking demo data. Standard library only, so it runs with
the emulator venv's python (or any python3 >= 3.9).

Every value is a pure function of (--seed, lead id, --now): lead-000042 gets the
same name, company and events whether 10 or 100,000 leads are loaded, so tests
can predict rows. Pass --now to make timestamps reproducible as well.

Typical use (lead keys are lead-000001, lead-000002, ...):
  seed.py --api http://127.0.0.1:9050 --project demo --reset --leads 1000 --events-per-lead 4
  seed.py ... --start-id 1001 --leads 50     # append lead-001001..lead-001050, all new "now"
  seed.py ... --leads 0 --update-fraction 0.1    # 10% of the leads: new job_title, updated_at = now
  seed.py ... --leads 0 --revisit-fraction 0.05  # 5% of the visitors come back (3 new events)
  seed.py ... --start-id 2001 --leads 20 --same-updated-at   # 20 leads sharing one updated_at

Loading uses a load job through the multipart upload endpoint (NDJSON), the
fastest path in bqemulator 1.4.0: DuckDB's own JSON reader parses it, and one
load job means one table snapshot (the emulator copies the whole table after
every write, so many small writes cost O(rows x writes)). `--method insertall`
is about 2x slower; `--method sql` (multi-row INSERT ... VALUES) is ~1000x
slower there (SQLGlot parses every literal: ~110 rows/s) and is only for
other emulators.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import json
import random
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

DATASET = "outbound_sales"

LEADS_SCHEMA = [
    ("trackingId", "STRING"),
    ("person_name", "STRING"),
    ("email", "STRING"),
    ("company_name", "STRING"),
    ("company_website", "STRING"),
    ("job_title", "STRING"),
    ("seniority", "STRING"),
    ("industry", "STRING"),
    ("company_size", "STRING"),
    ("inserted_at", "TIMESTAMP"),
    ("updated_at", "TIMESTAMP"),
]

EVENTS_SCHEMA = [
    ("type", "STRING"),
    ("timestamp", "TIMESTAMP"),
    ("sessionId", "STRING"),
    ("visitorId", "STRING"),
    ("url", "STRING"),
    ("data", "JSON"),
    ("_insertedAt", "TIMESTAMP"),
]

SCHEMAS = {"leads": LEADS_SCHEMA, "events": EVENTS_SCHEMA}

# ---------------------------------------------------------------------------
# Vocabulary for generated values
# ---------------------------------------------------------------------------

FIRST_NAMES = (
    "Olivia Liam Emma Noah Amelia Oliver Ava Elijah Sophia Lucas Isabella Mateo "
    "Mia Levi Charlotte Ethan Harper James Evelyn Benjamin Luna Henry Camila "
    "Sebastian Gianna Jack Elena Daniel Aria Samuel Chloe Leo Priya Arjun Mei "
    "Wei Yuki Hiro Fatima Omar Aisha Youssef Ingrid Lars Sofia Marco Chiara "
    "Lukas Hannah Jonas Lea Pierre Camille Diego Lucia Kwame Amara Tomasz Zofia "
    "Nadia Ivan Sanjay Ananya Kofi Efua Maya Noor Rafael Beatriz Sven Freya"
).split()
LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez "
    "Hernandez Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin "
    "Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson Walker "
    "Young Allen King Wright Scott Torres Nguyen Hill Flores Patel Shah Kumar "
    "Singh Chen Wang Li Zhang Tanaka Sato Suzuki Kim Park Choi Muller Schmidt "
    "Schneider Fischer Weber Dubois Laurent Rossi Russo Bianchi Novak Kowalski "
    "Nowak Okafor Mensah Haddad Larsen Nilsson Silva Santos Costa Oliveira"
).split()
COMPANY_PREFIXES = (
    "Acme Northwind Globex Initech Umbrella Stark Wayne Vandelay Hooli Pied "
    "Soylent Cyberdyne Tyrell Wonka Aperture Massive Blue Red Green Bright "
    "Silver Iron Cedar Summit Harbor Atlas Nimbus Quantum Vertex Apex Lumen "
    "Orbit Polar Crimson Everest Falcon Beacon Horizon Meridian Pioneer Keystone"
).split()
COMPANY_SUFFIXES = (
    "Analytics Labs Systems Software Logistics Health Bank Robotics Media "
    "Foods Energy Cloud Security Networks Dynamics Retail Capital Partners "
    "Industries Solutions Therapeutics Motors Studios Learning Insurance"
).split()
COMPANY_FORMS = ("", "", "", " Inc.", " Ltd", " GmbH", " LLC", " Group", " AG", " SA")
TLDS = (".com", ".com", ".com", ".io", ".co", ".ai", ".de", ".co.uk", ".fr", ".net")
INDUSTRIES = (
    "Software", "Financial Services", "Healthcare", "Retail", "Manufacturing",
    "Logistics", "Education", "Media", "Telecommunications", "Energy",
    "Insurance", "Real Estate", "Consulting", "Biotech", "Automotive",
    "Hospitality", "Government", "Non-profit",
)
COMPANY_SIZES = (
    ("1-10", 8), ("11-50", 18), ("51-200", 24), ("201-500", 18),
    ("501-1000", 12), ("1001-5000", 12), ("5001-10000", 5), ("10001+", 3),
)
SENIORITIES = (("Entry", 15), ("Senior", 25), ("Manager", 25), ("Director", 18),
               ("VP", 10), ("C-Level", 7))
DEPARTMENTS = ("Marketing", "Sales", "Engineering", "Operations", "Finance",
               "Product", "Data", "IT", "Customer Success", "People")
TITLE_PATTERNS = {
    "Entry": ("{d} Associate", "{d} Coordinator", "Junior {d} Specialist", "{d} Analyst"),
    "Senior": ("Senior {d} Specialist", "Senior {d} Analyst", "Lead {d} Specialist", "Senior {d} Engineer"),
    "Manager": ("{d} Manager", "Senior {d} Manager", "{d} Team Lead", "Group {d} Manager"),
    "Director": ("Director of {d}", "Senior Director of {d}", "Head of {d}"),
    "VP": ("VP of {d}", "SVP {d}", "Vice President, {d}"),
    "C-Level": ("Chief {c} Officer", "Chief Executive Officer", "Co-Founder & CEO", "Chief Operating Officer"),
}
CHIEF = {"Marketing": "Marketing", "Sales": "Revenue", "Engineering": "Technology",
         "Operations": "Operating", "Finance": "Financial", "Product": "Product",
         "Data": "Data", "IT": "Information", "Customer Success": "Customer",
         "People": "People"}

SITE = "https://www.kvsync-demo.com"
# (path, weight) for landing pages and later pageviews; /pricing and /demo are
# what the default query scores as intent.
PAGES = (
    ("/", 22), ("/features", 10), ("/features/personalisation", 5),
    ("/pricing", 12), ("/pricing/enterprise", 3), ("/demo", 6),
    ("/blog/edge-personalisation-guide", 8), ("/blog/bigquery-to-kv", 6),
    ("/customers", 5), ("/docs/getting-started", 8), ("/integrations", 5),
    ("/about", 3), ("/contact", 3), ("/careers", 2),
)
UTM = ("", "", "", "?utm_source=google&utm_medium=cpc", "?utm_source=linkedin&utm_medium=social",
       "?utm_source=newsletter&utm_medium=email", "?ref=g2")
REFERRERS = ("https://www.google.com/", "https://www.linkedin.com/", "", "",
             "https://news.ycombinator.com/", "https://www.bing.com/", "https://duckduckgo.com/")
DEVICES = ("desktop", "desktop", "desktop", "mobile", "mobile", "tablet")
BROWSERS = ("Chrome", "Chrome", "Safari", "Firefox", "Edge")
COUNTRIES = ("US", "US", "GB", "DE", "FR", "IN", "CA", "NL", "SE", "AU", "BR", "JP")
CLICK_TARGETS = ("cta-start-trial", "cta-book-demo", "nav-pricing", "nav-docs",
                 "footer-contact", "video-play", "plan-toggle-annual")
# Later events in a session: (type, weight)
LATER_EVENT_TYPES = (("pageview", 55), ("click", 22), ("scroll", 13), ("form_submit", 10))
FORMS = {"/demo": "demo_request", "/contact": "contact_sales", "/pricing": "pricing_quote",
         "/pricing/enterprise": "pricing_quote"}

US = dt.timedelta(microseconds=1)
FRESH_EVENT_WINDOW = dt.timedelta(minutes=30)
_EPOCH = dt.datetime(1970, 1, 1)
_UTC_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_DAY_US = 86_400_000_000
_MIN_US = 60_000_000


def _cumulative(pairs):
    acc, out = 0, []
    for value, w in pairs:
        acc += w
        out.append(acc)
    return [v for v, _ in pairs], out


_WEIGHTED_CACHE: dict[int, tuple[list, list]] = {}


def weighted(rng: random.Random, pairs):
    """Weighted choice from ((value, weight), ...)."""
    table = _WEIGHTED_CACHE.get(id(pairs))
    if table is None:
        table = _WEIGHTED_CACHE[id(pairs)] = _cumulative(pairs)
    values, cum = table
    return values[bisect.bisect_right(cum, rng.random() * cum[-1])]


def _pick(rng: random.Random, seq):
    """random.choice without its overhead."""
    return seq[int(rng.random() * len(seq))]


_json = json.JSONEncoder(separators=(",", ":")).encode


def _int(rng: random.Random, lo: int, hi: int) -> int:
    """Uniform integer in [lo, hi] (random.randint without its overhead)."""
    return lo + int(rng.random() * (hi - lo + 1))


def to_us(t: dt.datetime) -> int:
    d = t - _UTC_EPOCH
    return d.days * _DAY_US + d.seconds * 1_000_000 + d.microseconds


def fmt_us(us: int) -> str:
    """Microseconds since the epoch -> RFC 3339 UTC, e.g. 2026-11-28T13:20:02.405920Z."""
    return (_EPOCH + dt.timedelta(microseconds=us)).isoformat(timespec="microseconds") + "Z"


def fmt_ts(t: dt.datetime) -> str:
    return fmt_us(to_us(t))


def parse_ts(s: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(s.strip().replace("Z", "+00:00").replace(" UTC", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.astimezone(dt.timezone.utc)


def lead_key(i: int) -> str:
    return f"lead-{i:06d}"


def _lead_rng(seed: int, i: int) -> random.Random:
    # One generator per lead: a lead's values do not depend on how many are loaded.
    return random.Random(seed * 1_000_000_007 + i)


# ---------------------------------------------------------------------------
# Generation (timestamps are integer microseconds since the epoch internally)
# ---------------------------------------------------------------------------


def make_lead(rng: random.Random, i: int, now_us: int, history_us: int,
              shared_updated_us: int | None = None, fresh_us: int | None = None) -> dict:
    """One lead. `fresh_us` (appends) pins inserted_at = updated_at; otherwise both
    are spread over the `history_us` before `now_us`."""
    first, last = _pick(rng, FIRST_NAMES), _pick(rng, LAST_NAMES)
    company = f"{_pick(rng, COMPANY_PREFIXES)} {_pick(rng, COMPANY_SUFFIXES)}"
    domain = company.lower().replace(" ", "") + _pick(rng, TLDS)
    seniority = weighted(rng, SENIORITIES)
    dept = _pick(rng, DEPARTMENTS)
    title = _pick(rng, TITLE_PATTERNS[seniority]).format(d=dept, c=CHIEF[dept])
    local = _pick(rng, (f"{first}.{last}", f"{first[0]}{last}", first, f"{first}.{last}"))
    company_name = company + _pick(rng, COMPANY_FORMS)
    industry = _pick(rng, INDUSTRIES)
    size = weighted(rng, COMPANY_SIZES)
    if fresh_us is None:
        inserted = _int(rng, now_us - history_us, now_us)
        # Many leads were never edited; the others were edited at some point since.
        updated = inserted if rng.random() < 0.4 else _int(rng, inserted, now_us)
    else:
        inserted = updated = fresh_us
    if shared_updated_us is not None:
        updated = shared_updated_us
        inserted = min(inserted, shared_updated_us)
    return {
        "trackingId": lead_key(i),
        "person_name": f"{first} {last}",
        "email": f"{local}@{domain}".lower(),
        "company_name": company_name,
        "company_website": f"https://www.{domain}",
        "job_title": title,
        "seniority": seniority,
        "industry": industry,
        "company_size": size,
        "inserted_at": fmt_us(inserted),
        "updated_at": fmt_us(updated),
        "_inserted_us": inserted,  # generator-internal, stripped before loading
        "_updated_us": updated,
    }


def _title(page: str) -> str:
    return page.strip("/").replace("-", " ").replace("/", " / ").title() or "Home"


def make_session(rng: random.Random, visitor: str, start_us: int, n_events: int,
                 force_pages: tuple[str, ...] = ()) -> list[dict]:
    """One visit: session_start, a landing pageview, then weighted events, a few
    seconds to minutes apart. `force_pages` fixes the landing page and the next
    pageviews. Times stay integers here; finish_events() caps and formats them."""
    session_id = f"sess-{rng.getrandbits(64):016x}"
    device, browser, country = _pick(rng, DEVICES), _pick(rng, BROWSERS), _pick(rng, COUNTRIES)
    events = []
    t = start_us
    page = force_pages[0] if force_pages else weighted(rng, PAGES)
    for j in range(n_events):
        if j == 0:
            etype = "session_start"
            data = {"device": device, "browser": browser, "country": country,
                    "referrer": _pick(rng, REFERRERS)}
            url = SITE + page + _pick(rng, UTM)
        elif j == 1 or j < len(force_pages):
            etype = "pageview"
            if j < len(force_pages):
                page = force_pages[j]
            data = {"title": _title(page), "load_ms": _int(rng, 180, 2400)}
            url = SITE + page
        else:
            etype = weighted(rng, LATER_EVENT_TYPES)
            if etype == "pageview":
                page = weighted(rng, PAGES)
                data = {"title": _title(page), "load_ms": _int(rng, 180, 2400)}
            elif etype == "click":
                data = {"target": _pick(rng, CLICK_TARGETS)}
            elif etype == "scroll":
                data = {"depth_pct": _pick(rng, (25, 50, 75, 100))}
            else:  # form_submit
                page = _pick(rng, ("/demo", "/contact", "/pricing", "/demo"))
                data = {"form": FORMS.get(page, "newsletter"), "fields": _int(rng, 3, 9)}
            url = SITE + page
        if j:
            t += _int(rng, 2_000_000, 240_000_000)
        events.append({
            "type": etype,
            "timestamp": t,
            "sessionId": session_id,
            "visitorId": visitor,
            "url": url,
            "data": _json(data),
            "_insertedAt": t + _int(rng, 200_000, 90_000_000),  # ingestion lag
        })
    return events


def finish_events(events: list[dict], cap_us: int) -> list[dict]:
    """Shift a visitor's events back so the newest arrives (_insertedAt) at cap_us
    at the latest - nothing happens in the future and nothing is clipped onto one
    shared instant - then format the timestamps."""
    if not events:
        return events
    shift = max(0, max(e["_insertedAt"] for e in events) - cap_us)
    for e in events:
        e["timestamp"] = fmt_us(e["timestamp"] - shift)
        e["_insertedAt"] = fmt_us(e["_insertedAt"] - shift)
    return events


def make_events(rng: random.Random, lead: dict, per_lead: int, now_us: int,
                no_events_fraction: float, fresh_window_us: int | None = None) -> list[dict]:
    """`per_lead` events in sessions of 2-6 (or none, for `no_events_fraction` of the
    leads). Sessions start between 14 days before the lead was created and 10 minutes
    ago, or within the last `fresh_window_us` for fresh (appended) leads."""
    if per_lead <= 0 or rng.random() < no_events_fraction:
        return []
    sizes = []
    left = per_lead
    while left > 0:
        n = min(left, _int(rng, 2, 6))
        if 0 < left - n < 2:  # no 1-event tail: it joins this session
            n = left
        sizes.append(n)
        left -= n
    if fresh_window_us is None:
        hi = now_us - 10 * _MIN_US
        lo = min(lead["_inserted_us"] - 14 * _DAY_US, hi)
        cap = now_us - _int(rng, 0, 10 * _MIN_US)
    else:
        # Fresh leads: the visits came just before the lead was created, so the
        # lead's own (distinct, ordered) updated_at stays the record's updated_at.
        hi = lead["_updated_us"] - 1_000_000
        lo = hi - fresh_window_us
        cap = hi
    starts = sorted(_int(rng, lo, hi) for _ in sizes)
    events = []
    for start, n in zip(starts, sizes):
        events.extend(make_session(rng, lead["trackingId"], start, n))
    return finish_events(events, cap)


def make_anonymous_events(seed: int, count: int, now_us: int, history_us: int) -> list[dict]:
    """Events of visitors that are not leads: the default query must ignore them."""
    rng = random.Random(f"{seed}:anon")
    events = []
    k = 0
    while len(events) < count:
        n = min(count - len(events), _int(rng, 2, 5))
        session = make_session(rng, f"anon-{k:06d}", _int(rng, now_us - history_us, now_us), n)
        events.extend(finish_events(session, now_us))
        k += 1
    return events


# ---------------------------------------------------------------------------
# BigQuery REST client (stdlib only)
# ---------------------------------------------------------------------------


class BigQueryError(RuntimeError):
    pass


class BigQuery:
    def __init__(self, api: str, project: str, timeout: float = 600.0):
        self.api = api.rstrip("/")
        self.project = project
        self.timeout = timeout

    def _call(self, method: str, path: str, body=None, *, data: bytes | None = None,
              content_type: str = "application/json", prefix: str = "/bigquery/v2") -> dict:
        url = f"{self.api}{prefix}/projects/{self.project}{path}"
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": content_type})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            raise BigQueryError(f"{method} {path}: HTTP {e.code}: {e.read()[:2000]!r}") from None
        return json.loads(raw) if raw else {}

    def query(self, sql: str, params: list | None = None, max_results: int | None = None) -> dict:
        body = {"query": sql, "useLegacySql": False, "parameterMode": "NAMED",
                "queryParameters": params or [], "formatOptions": {"useInt64Timestamp": True},
                "timeoutMs": 600000}
        if max_results is not None:
            body["maxResults"] = max_results
        res = self._call("POST", "/queries", body)
        if res.get("errors") or (res.get("status") or {}).get("errorResult"):
            raise BigQueryError(f"query failed: {res.get('errors') or res['status']}\n{sql[:500]}")
        while not res.get("jobComplete", True):  # not seen with the emulator
            time.sleep(0.2)
            res = self._call("GET", f"/queries/{res['jobReference']['jobId']}?maxResults=0")
        return res

    def query_rows(self, sql: str, params: list | None = None, page: int = 50_000) -> list[list]:
        res = self.query(sql, params, max_results=page)
        job = res["jobReference"]["jobId"]
        rows = [[c["v"] for c in r["f"]] for r in res.get("rows", [])]
        token = res.get("pageToken")
        while token:
            res = self._call("GET", f"/queries/{job}?maxResults={page}&pageToken={urllib.parse.quote(token)}")
            rows.extend([c["v"] for c in r["f"]] for r in res.get("rows", []))
            token = res.get("pageToken")
        return rows

    def ensure_dataset(self, dataset: str) -> None:
        try:
            self._call("GET", f"/datasets/{dataset}")
        except BigQueryError:
            self._call("POST", "/datasets", {"datasetReference": {"projectId": self.project,
                                                                  "datasetId": dataset}})

    # --- three ways to load rows -------------------------------------------------

    def load_ndjson(self, table: str, rows: list[dict]) -> None:
        """One multipart load job (jobs.insert on the upload endpoint)."""
        boundary = "kvsync" + uuid.uuid4().hex
        config = {"configuration": {"load": {
            "destinationTable": {"projectId": self.project, "datasetId": DATASET, "tableId": table},
            "sourceFormat": "NEWLINE_DELIMITED_JSON", "writeDisposition": "WRITE_APPEND",
            "createDisposition": "CREATE_NEVER"}}}
        media = "\n".join(json.dumps(r, separators=(",", ":")) for r in rows).encode() + b"\n"
        body = b"".join([
            f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n".encode(),
            json.dumps(config).encode(),
            f"\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n".encode(),
            media,
            f"\r\n--{boundary}--\r\n".encode(),
        ])
        res = self._call("POST", "/jobs?uploadType=multipart", data=body,
                         content_type=f"multipart/related; boundary={boundary}", prefix="/upload/bigquery/v2")
        err = (res.get("status") or {}).get("errorResult")
        if err:
            raise BigQueryError(f"load into {table} failed: {err}")

    def insert_all(self, table: str, rows: list[dict], chunk: int) -> None:
        for k in range(0, len(rows), chunk):
            res = self._call("POST", f"/datasets/{DATASET}/tables/{table}/insertAll",
                             {"rows": [{"json": r} for r in rows[k:k + chunk]]})
            if res.get("insertErrors"):
                raise BigQueryError(f"insertAll into {table}: {res['insertErrors'][:3]}")

    def insert_sql(self, table: str, rows: list[dict], chunk: int) -> None:
        cols = [c for c, _ in SCHEMAS[table]]
        types = dict(SCHEMAS[table])
        for k in range(0, len(rows), chunk):
            values = ",\n".join(
                "(" + ", ".join(sql_literal(r.get(c), types[c]) for c in cols) + ")"
                for r in rows[k:k + chunk])
            self.query(f"INSERT INTO {DATASET}.{table} ({', '.join(cols)}) VALUES\n{values}")


def sql_literal(v, typ: str) -> str:
    if v is None:
        return "NULL"
    s = "'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'"
    if typ == "TIMESTAMP":
        return f"TIMESTAMP {s}"
    if typ == "JSON":
        return f"JSON {s}"
    return s


# ---------------------------------------------------------------------------
# Operations (importable)
# ---------------------------------------------------------------------------


def create_tables(bq: BigQuery, reset: bool = False) -> None:
    bq.ensure_dataset(DATASET)
    for table, schema in SCHEMAS.items():
        if reset:
            bq.query(f"DROP TABLE IF EXISTS {DATASET}.{table}")
        cols = ",\n  ".join(f"`{c}` {t}" for c, t in schema)
        bq.query(f"CREATE TABLE IF NOT EXISTS {DATASET}.{table} (\n  {cols}\n)")
    # bqemulator 1.4.0 leaves CREATE TABLE's DuckDB result open on its shared
    # connection; a following insertAll then fails with HTTP 500 (ResourceInUse).
    # Any other statement clears it.
    bq.query("SELECT 1")


def load_rows(bq: BigQuery, table: str, rows: list[dict], method: str = "load", chunk: int = 0) -> None:
    if not rows:
        return
    if method == "load":
        chunk = chunk or 250_000
        for k in range(0, len(rows), chunk):
            bq.load_ndjson(table, rows[k:k + chunk])
    elif method == "insertall":
        bq.insert_all(table, rows, chunk or 50_000)
    elif method == "sql":
        bq.insert_sql(table, rows, chunk or 2_000)
    else:
        raise ValueError(method)


def generate(seed: int, start_id: int, n: int, per_lead: int, now: dt.datetime,
             history: dt.timedelta | None, no_events_fraction: float,
             same_updated_at: bool = False) -> tuple[list[dict], list[dict]]:
    """Leads start_id..start_id+n-1 and their events.

    history=None means fresh leads (appends): inserted_at = updated_at = now minus
    one microsecond per later id (distinct, increasing with the id), visits in the
    30 minutes before. same_updated_at pins every new lead's updated_at to `now`
    (events never exceed `now`, so the query's updated_at ties as well)."""
    now_us = to_us(now)
    history_us = to_us(now) - to_us(now - history) if history is not None else 0
    fresh_window = FRESH_EVENT_WINDOW // US if history is None else None
    shared = now_us if same_updated_at else None
    leads, events = [], []
    last = start_id + n - 1
    for i in range(start_id, start_id + n):
        rng = _lead_rng(seed, i)
        fresh_us = now_us - (last - i) if history is None else None
        lead = make_lead(rng, i, now_us, history_us, shared, fresh_us)
        events.extend(make_events(rng, lead, per_lead, now_us, no_events_fraction, fresh_window))
        del lead["_inserted_us"], lead["_updated_us"]
        leads.append(lead)
    return leads, events


def load_leads(bq: BigQuery, seed: int = 42, start_id: int = 1, n: int = 1000, per_lead: int = 2,
               now: dt.datetime | None = None, history: dt.timedelta | None = dt.timedelta(days=90),
               no_events_fraction: float = 0.1, same_updated_at: bool = False,
               method: str = "load", chunk: int = 0) -> tuple[int, int]:
    """Generate and load leads start_id..start_id+n-1 with their events."""
    now = now or dt.datetime.now(dt.timezone.utc)
    leads, events = generate(seed, start_id, n, per_lead, now, history, no_events_fraction,
                             same_updated_at)
    load_rows(bq, "leads", leads, method, chunk)
    load_rows(bq, "events", events, method, chunk)
    return len(leads), len(events)


def existing_leads(bq: BigQuery) -> list[tuple[str, str]]:
    """(trackingId, job_title) of every lead, ordered by trackingId."""
    rows = bq.query_rows(f"SELECT trackingId, job_title FROM {DATASET}.leads ORDER BY trackingId")
    return [(r[0], r[1]) for r in rows]


def pick(existing: list, fraction: float, seed: int, salt: str) -> list:
    """A deterministic sample (by seed) of round(len * fraction) items, sorted."""
    k = round(len(existing) * fraction)
    return sorted(random.Random(f"{seed}:{salt}").sample(sorted(existing), k)) if k else []


def _str_array(name: str, values: list[str]) -> dict:
    return {"name": name, "parameterType": {"type": "ARRAY", "arrayType": {"type": "STRING"}},
            "parameterValue": {"arrayValues": [{"value": v} for v in values]}}


def _param(name: str, typ: str, value: str) -> dict:
    return {"name": name, "parameterType": {"type": typ}, "parameterValue": {"value": value}}


def update_leads(bq: BigQuery, fraction: float, seed: int = 42, now: dt.datetime | None = None,
                 existing: list | None = None) -> int:
    """Give a deterministic `fraction` of the leads a new (different) job_title and
    updated_at = now, in ONE UPDATE statement (the emulator snapshots the whole
    table after every DML statement)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    chosen = pick(existing if existing is not None else existing_leads(bq), fraction, seed, "update")
    if not chosen:
        return 0
    by_title: dict[str, list[str]] = {}
    for key, old_title in chosen:
        rng = random.Random(f"{seed}:update:{key}")
        seniority = weighted(rng, SENIORITIES)
        dept = rng.choice(DEPARTMENTS)
        title = old_title
        while title == old_title:
            title = rng.choice(TITLE_PATTERNS[seniority]).format(d=dept, c=CHIEF[dept])
        by_title.setdefault(title, []).append(key)
    params = [_param("now", "TIMESTAMP", fmt_ts(now)), _str_array("keys", [k for k, _ in chosen])]
    branches = []
    for n, (title, keys) in enumerate(sorted(by_title.items())):
        branches.append(f"WHEN trackingId IN UNNEST(@k{n}) THEN @t{n}")
        params += [_param(f"t{n}", "STRING", title), _str_array(f"k{n}", keys)]
    bq.query(f"UPDATE {DATASET}.leads SET job_title = CASE {' '.join(branches)} END, "
             f"updated_at = @now WHERE trackingId IN UNNEST(@keys)", params)
    return len(chosen)


def revisit(bq: BigQuery, fraction: float, seed: int = 42, now: dt.datetime | None = None,
            existing: list | None = None, method: str = "load") -> int:
    """A deterministic `fraction` of the leads' visitors come back: one new session
    each (session_start on /pricing, pageview /pricing, pageview /demo) ending at
    `now` at the latest, so those records' updated_at moves forward."""
    now = now or dt.datetime.now(dt.timezone.utc)
    now_us = to_us(now)
    chosen = pick(existing if existing is not None else existing_leads(bq), fraction, seed, "revisit")
    events = []
    for key, _ in chosen:
        rng = random.Random(f"{seed}:revisit:{key}:{now_us}")
        session = make_session(rng, key, now_us - 10 * _MIN_US, 3,
                               force_pages=("/pricing", "/pricing", "/demo"))
        events.extend(finish_events(session, now_us - _int(rng, 0, 1_000_000)))
    load_rows(bq, "events", events, method)
    return len(events)


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--api", default="http://127.0.0.1:9050", help="emulator base URL")
    ap.add_argument("--project", default="demo")
    ap.add_argument("--leads", type=int, default=1000, help="number of leads to add (0: none)")
    ap.add_argument("--events-per-lead", type=int, default=2,
                    help="events for each lead that has events, in sessions of 2-6 events "
                         "(default 2: session_start + a landing pageview)")
    ap.add_argument("--no-events-fraction", type=float, default=0.1,
                    help="fraction of the new leads with no events at all (default 0.1)")
    ap.add_argument("--anonymous-events", type=int, default=0,
                    help="extra events by visitors that are not leads (ignored by the query)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--start-id", type=int, default=None,
                    help="first lead number (default 1). Given without --history-days, the "
                         "leads are 'fresh': inserted_at = updated_at = --now minus one "
                         "microsecond per later id (the last new lead is exactly --now), and "
                         "their visits end at least 1 s before that, so the lead's updated_at "
                         "stays the record's updated_at")
    ap.add_argument("--history-days", type=float, default=None,
                    help="spread inserted_at/updated_at over this many days before --now "
                         "(default 90 unless --start-id makes the leads fresh)")
    ap.add_argument("--now", type=parse_ts, default=None,
                    help="reference time, RFC 3339 (default: current time) - fix it for reproducible timestamps")
    ap.add_argument("--reset", action="store_true", help="drop and recreate both tables first")
    ap.add_argument("--update-fraction", type=float, default=0.0,
                    help="touch this fraction of the existing leads: new job_title, updated_at = now")
    ap.add_argument("--revisit-fraction", type=float, default=0.0,
                    help="this fraction of the existing leads' visitors come back: one new "
                         "session (/pricing, /pricing, /demo) arriving just before --now")
    ap.add_argument("--same-updated-at", action="store_true",
                    help="all new leads get one shared updated_at (= --now), for cursor-tie tests")
    ap.add_argument("--method", choices=("load", "insertall", "sql"), default="load",
                    help="how rows are sent (default: multipart NDJSON load job, the fastest)")
    ap.add_argument("--chunk", type=int, default=0, help="rows per request (0: method default)")
    args = ap.parse_args(argv)

    t0 = time.monotonic()
    now = args.now or dt.datetime.now(dt.timezone.utc)
    if args.history_days is not None:
        history = dt.timedelta(days=args.history_days)
    else:
        history = None if args.start_id is not None else dt.timedelta(days=90)
    start_id = args.start_id if args.start_id is not None else 1
    bq = BigQuery(args.api, args.project)

    create_tables(bq, reset=args.reset)
    existing = None
    if args.update_fraction or args.revisit_fraction:
        existing = existing_leads(bq)  # before the new leads, so they are not touched
    n_updated = n_revisit = 0
    if args.update_fraction:
        n_updated = update_leads(bq, args.update_fraction, args.seed, now, existing)
    if args.revisit_fraction:
        n_revisit = revisit(bq, args.revisit_fraction, args.seed, now, existing, args.method)

    t_gen = time.monotonic()
    leads, events = generate(args.seed, start_id, args.leads, args.events_per_lead, now, history,
                             args.no_events_fraction, args.same_updated_at)
    events.extend(make_anonymous_events(args.seed, args.anonymous_events, to_us(now),
                                        (history or FRESH_EVENT_WINDOW) // US))
    t_gen = time.monotonic() - t_gen
    load_rows(bq, "leads", leads, args.method, args.chunk)
    load_rows(bq, "events", events, args.method, args.chunk)

    span = f" {lead_key(start_id)}..{lead_key(start_id + args.leads - 1)}" if args.leads else ""
    extra = "".join([f", {n_updated} leads updated" if args.update_fraction else "",
                     f", {n_revisit} revisit events" if args.revisit_fraction else ""])
    print(f"seed: loaded {len(leads) + len(events) + n_revisit} rows ({len(leads)} leads{span}, "
          f"{len(events)} events{extra}) into {args.project}.{DATASET} in "
          f"{time.monotonic() - t0:.2f}s (generation {t_gen:.2f}s, method {args.method})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
