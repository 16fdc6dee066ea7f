-- kv-sync coordinator schema, version 14: a sync's `key_prefix` changed.
-- The prefixes its keys were written under before (a JSON array, the new
-- prefix never among them) are kept until the full run that writes every
-- value under the new one has deleted the keys under them.
ALTER TABLE sync_state ADD COLUMN retired_prefixes TEXT;
