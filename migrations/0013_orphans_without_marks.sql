-- kv-sync coordinator schema, version 13: a full run finds the keys that
-- left the source without writing a row per key it reads. It reads the
-- source in key order and compares each stretch of it with the stored keys
-- beside it: only a stored key the stretch lacks is written, marked with
-- the run that found it absent. A mark is cleared when any run or push
-- writes the key, or a full run reads it.
--
-- `seen_run` (one write per key per full run) is no longer written;
-- dropping it would rewrite every row of the table once.
ALTER TABLE key_hashes ADD COLUMN absent_in INTEGER;
-- Only marked keys are indexed, so the orphans are found in key order
-- without scanning every key held.
CREATE INDEX key_hashes_absent ON key_hashes (key, absent_in) WHERE absent_in IS NOT NULL;
