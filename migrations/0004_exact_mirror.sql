-- kv-sync coordinator schema, version 4: the exact mirror.

-- The last full run that read each key. When a full run completes, keys it
-- did not read have left the source: reconciliation deletes them from KV
-- and forgets them here.
ALTER TABLE key_hashes ADD COLUMN seen_run INTEGER;

-- TTL refreshes follow a schedule (a full read every half TTL), not the
-- oldest write, so the index that found the oldest write is only a cost
-- on every hash written.
DROP INDEX IF EXISTS key_hashes_by_written_at;

-- Whether a run read the whole source and why, the orphans it deleted,
-- and what it held back and why.
ALTER TABLE runs ADD COLUMN full INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN rows_orphaned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN warning TEXT;
ALTER TABLE runs ADD COLUMN reason TEXT;

-- When the last completed full read started: the schedule of full runs and
-- TTL refreshes counts from it. Failed rows are counted, not COUNT(*)-ed on
-- every /status; the table keeps the newest 10,000 and `failed_pruned`
-- counts the older ones still failing as far as kv-sync knows (until the
-- next full read tells).
ALTER TABLE sync_state ADD COLUMN last_full_read_at INTEGER;
ALTER TABLE sync_state ADD COLUMN failed_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_state ADD COLUMN failed_pruned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_state ADD COLUMN failed_pruned_mark INTEGER NOT NULL DEFAULT 0;
-- A queued follow-up remembers every flag it was asked with.
ALTER TABLE sync_state ADD COLUMN queued_rewrite INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_state ADD COLUMN queued_mass_delete INTEGER NOT NULL DEFAULT 0;
UPDATE sync_state SET failed_count = (SELECT COUNT(*) FROM failed_rows) WHERE id = 1;

-- A cursor that a row stamped in the future carried past the present (the
-- bug this version fixes) is brought back to now, so rows that changed
-- since are read again.
UPDATE sync_state
   SET cursor_updated_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000000, cursor_key = ''
 WHERE cursor_updated_at > (CAST(strftime('%s', 'now') AS INTEGER) + 60) * 1000000;
