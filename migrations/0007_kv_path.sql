-- kv-sync coordinator schema, version 7: which way each run wrote to KV
-- (the binding or the bulk API, chosen by the run's size) and why.
ALTER TABLE runs ADD COLUMN kv_path TEXT;
ALTER TABLE runs ADD COLUMN kv_path_reason TEXT;
