-- create_record idempotency compares a retry with the payload the key first created, not with
-- the record as later PATCHes left it: a SHA-256 (hex) of that payload. NULL on records made
-- before this column, or without an idempotencyKey.
ALTER TABLE records ADD COLUMN client_payload_hash TEXT;

-- The lookup of a create_record key, and the sweep of soft-deleted records (MCP delete_record),
-- without a scan of every record.
CREATE INDEX records_client_key_idx ON records (user_id, client_idempotency_key) WHERE client_idempotency_key IS NOT NULL;

CREATE INDEX records_deleted_idx ON records (deleted_at) WHERE deleted_at IS NOT NULL;
