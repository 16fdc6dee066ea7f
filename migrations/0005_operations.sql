-- kv-sync coordinator schema, version 5: running it without watching it.

-- Freshness: when the last completed run's query began (KV holds at least
-- what BigQuery held then) and when the next run is scheduled (apart from
-- the watchdog alarm that guards a run in progress).
ALTER TABLE sync_state ADD COLUMN last_success_at INTEGER;
ALTER TABLE sync_state ADD COLUMN next_sync_at INTEGER;

-- Change detection: the digest of SYNC_QUERY at the last completed full
-- read and of the result's columns at the last completed run; a change of
-- either makes the next run a full one, for this reason.
ALTER TABLE sync_state ADD COLUMN query_digest TEXT;
ALTER TABLE sync_state ADD COLUMN schema_digest TEXT;
ALTER TABLE sync_state ADD COLUMN full_read_reason TEXT;

-- Alerts: one per episode (these flags say which episodes were alerted),
-- and the messages not yet delivered, retried on later alarms.
ALTER TABLE sync_state ADD COLUMN alerted_failing INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_state ADD COLUMN alerted_stale INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_state ADD COLUMN alerted_reconcile INTEGER NOT NULL DEFAULT 0;
CREATE TABLE pending_alerts (
  id         INTEGER PRIMARY KEY,
  event      TEXT NOT NULL,
  body       TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  attempts   INTEGER NOT NULL DEFAULT 0
);
