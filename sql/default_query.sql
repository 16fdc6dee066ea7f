-- kv-sync default source query: one personalisation record per lead trackingId
-- (the KV key), from outbound_sales.leads plus what that visitor did on the site
-- (outbound_sales.events, visitorId = trackingId).
--
-- kv-sync wraps this query: it keeps the rows whose updated_at is at or after
-- its "since" parameter (and the rows whose updated_at is NULL, to report
-- them), keeps one row per key and orders by (updated_at, key) itself, so no
-- ORDER BY here. "since" is the cursor minus the lookback on an incremental
-- run and 0001-01-01 on a full read.
--
-- Why pruning with "since" changes no result. A record's updated_at is
--   GREATEST(own, COALESCE(newest_arrival, own))
-- with own = COALESCE(updated_at, inserted_at) of the lead's newest version and
-- newest_arrival = MAX(COALESCE(_insertedAt, timestamp)) over ALL the visitor's
-- events. So it is at or after "since" exactly when own is, or when one of the
-- visitor's events arrived at or after "since"; and it is NULL only when own
-- is. changed_keys finds every such key (and a few more whose newest version
-- or events turn out older; the wrapper drops those, as before). Everything
-- after changed_keys reads ALL versions and ALL events of those keys, with no
-- time filter, so each record that survives the wrapper is computed from the
-- same rows as in a full read and is byte-identical to it; the behaviour
-- columns still count the visitor's whole history.
-- tools/bqemu/compare_default_query.py checks that against the unpruned
-- reference query at several "since" values (tests/e2e/default_query.test.mjs
-- runs it); docs/COST.md has the table layout this needs on BigQuery and what
-- it saves.
--
-- Never write the parameter's name with its sigil in a comment or string here:
-- bqemulator binds parameters by a plain text search, so a mention in a comment
-- counts as a use and the query fails ("Parameter argument/count mismatch").
--
-- Runs unchanged on BigQuery and on the DuckDB-based bqemulator the tests use.
WITH
  -- Visitors with an event that arrived in the window. Two branches, each
  -- comparing one column with the parameter alone, so that on events
  -- partitioned by DATE(_insertedAt) the first reads only the newest
  -- partitions and the second only the NULL partition (a COALESCE in the
  -- filter would make BigQuery read every partition).
  recent_visitors AS (
    SELECT visitorId FROM outbound_sales.events
    WHERE _insertedAt >= @since
    UNION DISTINCT
    SELECT visitorId FROM outbound_sales.events
    WHERE _insertedAt IS NULL AND `timestamp` >= @since
  ),

  -- The leads whose record can be in the window: a version changed (own time
  -- at or after "since", or NULL: such a record is kept in every window), or
  -- the visitor came back. Anonymous visitors drop out here, so their history
  -- is never read. Three narrow columns of leads.
  changed_keys AS (
    SELECT DISTINCT trackingId AS key
    FROM outbound_sales.leads
    WHERE updated_at >= @since
       OR (updated_at IS NULL AND (inserted_at >= @since OR inserted_at IS NULL))
       OR trackingId IN (SELECT visitorId FROM recent_visitors)
  ),

  -- Leads may hold several versions of one trackingId (append-style loads):
  -- keep the newest, or the key would get two rows and flap between them.
  -- Every version of a changed key is ranked, old ones included, so the pick
  -- is the full read's. Rows without a trackingId form one record of their
  -- own (key NULL, which kv-sync reports); they are always ranked, and the
  -- wrapper keeps that record exactly when a full read would have.
  ranked_leads AS (
    SELECT
      trackingId, person_name, email, company_name, company_website, job_title,
      seniority, industry, company_size, inserted_at, updated_at,
      ROW_NUMBER() OVER (
        PARTITION BY trackingId
        ORDER BY updated_at DESC, inserted_at DESC
      ) AS version_rank
    FROM outbound_sales.leads
    WHERE trackingId IN (SELECT key FROM changed_keys)
       OR trackingId IS NULL
  ),

  -- All events of the changed keys' visitors, whenever they arrived: on events
  -- clustered by visitorId BigQuery can skip the blocks holding none of them.
  -- (The IN also leaves out events without a visitorId.)
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
    WHERE visitorId IN (SELECT key FROM changed_keys)
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
