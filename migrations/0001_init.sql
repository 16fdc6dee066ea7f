-- kv-sync coordinator schema, version 1.
-- Times are INTEGER microseconds since the Unix epoch (below 2^53, so exact
-- in JavaScript). Content hashes are 64-bit and therefore TEXT (16 hex
-- digits): as integers they would be rounded on their way through JS.

-- One row: the cursor, the run lease, the follow-up queue and the totals.
CREATE TABLE sync_state (
  id                   INTEGER PRIMARY KEY CHECK (id = 1),
  cursor_updated_at    INTEGER,
  cursor_key           TEXT,
  active_run_id        INTEGER,
  lease_run_id         INTEGER,
  lease_fence          INTEGER NOT NULL DEFAULT 0,
  lease_expires_at     INTEGER,
  queued               INTEGER NOT NULL DEFAULT 0,
  queued_full          INTEGER NOT NULL DEFAULT 0,
  consecutive_failures INTEGER NOT NULL DEFAULT 0,
  total_runs           INTEGER NOT NULL DEFAULT 0,
  total_rows_written   INTEGER NOT NULL DEFAULT 0,
  total_rows_deleted   INTEGER NOT NULL DEFAULT 0,
  total_rows_unchanged INTEGER NOT NULL DEFAULT 0,
  total_rows_failed    INTEGER NOT NULL DEFAULT 0
);
INSERT INTO sync_state (id) VALUES (1);

-- Run history (the newest 1,000 are kept); the active run's checkpoint is
-- the JSON in `checkpoint`, written in the same statement as its counters.
CREATE TABLE runs (
  id             INTEGER PRIMARY KEY,
  trigger        TEXT NOT NULL,
  status         TEXT NOT NULL,
  started_at     INTEGER NOT NULL,
  finished_at    INTEGER,
  invocations    INTEGER NOT NULL DEFAULT 0,
  bigquery_jobs  INTEGER NOT NULL DEFAULT 0,
  total_rows     INTEGER,
  rows_read      INTEGER NOT NULL DEFAULT 0,
  rows_written   INTEGER NOT NULL DEFAULT 0,
  rows_deleted   INTEGER NOT NULL DEFAULT 0,
  rows_unchanged INTEGER NOT NULL DEFAULT 0,
  rows_failed    INTEGER NOT NULL DEFAULT 0,
  error          TEXT,
  checkpoint     TEXT
);

-- What kv-sync last wrote per key: the change detector.
CREATE TABLE key_hashes (
  key        TEXT PRIMARY KEY,
  hash       TEXT NOT NULL,
  written_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX key_hashes_by_written_at ON key_hashes (written_at);

-- Quarantined rows, one per key (a fixed row removes its entry).
CREATE TABLE failed_rows (
  key    TEXT PRIMARY KEY,
  reason TEXT NOT NULL,
  at     INTEGER NOT NULL
);
CREATE INDEX failed_rows_by_at ON failed_rows (at);
