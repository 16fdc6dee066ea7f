-- kv-sync coordinator schema, version 6: named syncs. Each sync has its own
-- coordinator object; the object remembers which sync it is (an alarm
-- carries no request to say so), and the times of its recent KV bulk API
-- requests (its share of the API token's budget outlives the object's
-- memory).
ALTER TABLE sync_state ADD COLUMN sync_name TEXT;
ALTER TABLE sync_state ADD COLUMN bulk_requests TEXT;
