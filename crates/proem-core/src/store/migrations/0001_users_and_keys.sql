-- Users and their API keys. Times are epoch milliseconds; ids are prefixed UUIDv7 text.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    name TEXT,
    created_at BIGINT NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email)
);

-- Only SHA-256(key) is stored (hex); display_prefix is the first 12 characters for people.
-- scopes is a JSON array of scope strings.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    display_prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    expires_at BIGINT,
    revoked_at BIGINT,
    rotated_from TEXT REFERENCES api_keys (id),
    CONSTRAINT api_keys_hash_key UNIQUE (key_hash)
);

CREATE INDEX api_keys_user_idx ON api_keys (user_id, created_at);
