-- Why a run wrote through the binding though it chose the bulk API (the API
-- refused a request as a whole), and whether that episode was alerted.
ALTER TABLE runs ADD COLUMN degraded TEXT;
ALTER TABLE sync_state ADD COLUMN alerted_degraded INTEGER NOT NULL DEFAULT 0;
-- Rows a full run wrote that arrived too late for any incremental run.
ALTER TABLE runs ADD COLUMN rows_late INTEGER NOT NULL DEFAULT 0;
-- What the late rows say about the lookback, in words.
ALTER TABLE runs ADD COLUMN late_warning TEXT;
-- The identities of failed rows pruned from the list (the newest 10,000 are
-- listed): a pruned row read again is the same failed row, not a new one.
CREATE TABLE failed_pruned_rows (
  id  TEXT PRIMARY KEY,
  at  INTEGER NOT NULL,
  run INTEGER
);
-- The run that last quarantined a failed row: a full read keeps the rows it
-- (or a later run) quarantined again, whatever the clocks said.
ALTER TABLE failed_rows ADD COLUMN run INTEGER;
CREATE INDEX failed_pruned_rows_by_at ON failed_pruned_rows (at);
-- Pruned rows are counted from their identities now, not from a mark.
ALTER TABLE sync_state DROP COLUMN failed_pruned_mark;
-- How the values in KV were written (TTL, prefix, binding, namespace), and
-- the first run that must rewrite them after a deploy changed that.
ALTER TABLE sync_state ADD COLUMN write_settings TEXT;
ALTER TABLE sync_state ADD COLUMN rewrite_from_run INTEGER;
