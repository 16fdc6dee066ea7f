-- kv-sync coordinator schema, version 3: a failed row is remembered by an
-- identity apart from its key, so rows without a key are each counted (they
-- all shared one "(null key)" entry before). A keyed row's identity is its
-- key; a keyless row's is a digest of the row as BigQuery sent it.
CREATE TABLE failed_rows_v3 (
  id     TEXT PRIMARY KEY,
  key    TEXT,
  reason TEXT NOT NULL,
  at     INTEGER NOT NULL
);
INSERT INTO failed_rows_v3 (id, key, reason, at)
  SELECT key, CASE WHEN key = '(null key)' THEN NULL ELSE key END, reason, at FROM failed_rows;
DROP TABLE failed_rows;
ALTER TABLE failed_rows_v3 RENAME TO failed_rows;
CREATE INDEX failed_rows_by_at ON failed_rows (at);
