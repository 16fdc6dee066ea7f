-- The run that last wrote each key (NULL when a push did): `GET /keys/KEY`
-- says which.
ALTER TABLE key_hashes ADD COLUMN run INTEGER;
-- What each run spent beyond its counters (BigQuery's figures, bulk
-- requests, storage rows), kept after its checkpoint is dropped.
ALTER TABLE runs ADD COLUMN spend TEXT;
-- What the runs that ended in each hour cost: `/status` sums the last 24.
CREATE TABLE cost_hours (
  hour             INTEGER PRIMARY KEY,
  runs             INTEGER NOT NULL DEFAULT 0,
  bytes_billed     INTEGER,
  bytes_processed  INTEGER,
  cache_hits       INTEGER NOT NULL DEFAULT 0,
  kv_writes        INTEGER NOT NULL DEFAULT 0,
  kv_deletes       INTEGER NOT NULL DEFAULT 0,
  kv_bulk_requests INTEGER NOT NULL DEFAULT 0,
  rows_read        INTEGER NOT NULL DEFAULT 0,
  rows_written     INTEGER NOT NULL DEFAULT 0
);
