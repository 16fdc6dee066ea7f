-- The source `updated_at` of what kv-sync last wrote for each key, and
-- whether a push wrote it: per key the newest row wins across pushes and
-- pulls.
ALTER TABLE key_hashes ADD COLUMN updated_at INTEGER;
ALTER TABLE key_hashes ADD COLUMN by_push INTEGER NOT NULL DEFAULT 0;
-- The result schemas pulls have read, by digest: a pushed row is typed by
-- the schema of the last completed pull (`sync_state.schema_digest`).
CREATE TABLE result_schemas (
  digest TEXT PRIMARY KEY,
  fields TEXT NOT NULL
);
-- What `POST /push` did with the rows it was given.
ALTER TABLE sync_state ADD COLUMN push_received INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_state ADD COLUMN push_written INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_state ADD COLUMN push_deleted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_state ADD COLUMN push_unchanged INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_state ADD COLUMN push_stale INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_state ADD COLUMN push_failed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_state ADD COLUMN push_last_at INTEGER;
