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
