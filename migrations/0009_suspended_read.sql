-- A run that failed part-way, kept so the next run of its kind (full or
-- incremental) resumes it from its checkpoint instead of its first row
-- (JSON: the run's progress and the digest of the query it read).
ALTER TABLE sync_state ADD COLUMN suspended_read TEXT;
