-- The machinery every endpoint shares: per-prompt grants, rate-limit windows, idempotency rows,
-- the audit trail, API-key activity and server secrets.

-- A key with no rows here reaches all of its user's prompts; with rows, only those.
CREATE TABLE key_grants (
    key_id TEXT NOT NULL REFERENCES api_keys (id),
    prompt_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (key_id, prompt_id)
);

-- Fixed one-minute windows; bucket is e.g. `key:<id>:read` or `user:<id>:execute`.
CREATE TABLE rate_windows (
    bucket TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (bucket, window_start)
);

-- One row per (user, Idempotency-Key). state: in_flight, complete or failed.
CREATE TABLE idempotency_keys (
    user_id TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    route TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    state TEXT NOT NULL,
    lease_expires_at BIGINT NOT NULL,
    status BIGINT,
    headers TEXT,
    body BYTEA,
    created_at BIGINT NOT NULL,
    completed_at BIGINT,
    expires_at BIGINT,
    PRIMARY KEY (user_id, idem_key)
);

CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys (expires_at);

-- Who changed what, when, with what outcome. Content fields appear only as presence, length and a
-- SHA-256 prefix (fields is a JSON object), never raw.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    key_id TEXT,
    method TEXT NOT NULL,
    route TEXT NOT NULL,
    object_id TEXT,
    status BIGINT NOT NULL,
    fields TEXT NOT NULL
);

CREATE INDEX audit_log_user_idx ON audit_log (user_id, at);

-- One row per API-key request, written in batches off the request path.
CREATE TABLE key_activity (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    key_id TEXT NOT NULL,
    method TEXT NOT NULL,
    route TEXT NOT NULL,
    status BIGINT NOT NULL,
    latency_us BIGINT NOT NULL,
    prompt_id TEXT
);

CREATE INDEX key_activity_user_idx ON key_activity (user_id, id);

-- Secrets the server generates once and every instance shares (e.g. the cursor-signing key).
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
