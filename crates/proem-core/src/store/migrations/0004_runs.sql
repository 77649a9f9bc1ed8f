-- Runs, records, usage and per-user settings.

-- A run session: the frozen snapshot of the prompt version it runs, its turns (JSON array) and a
-- state moved only by compare-and-set. generation counts reopens (finalize idempotency is scoped
-- per generation); expires_at slides with activity (1 h TTL).
CREATE TABLE run_sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    key_id TEXT NOT NULL,
    prompt_id TEXT NOT NULL REFERENCES prompts (id),
    version_id TEXT NOT NULL,
    snapshot TEXT NOT NULL,
    state TEXT NOT NULL,
    turns TEXT NOT NULL,
    generation BIGINT NOT NULL DEFAULT 0,
    reopen_count BIGINT NOT NULL DEFAULT 0,
    finalized_record_id TEXT,
    last_finalize TEXT,
    failure_code TEXT,
    seeded_from_record_id TEXT,
    client_idempotency_key TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX run_sessions_prompt_idx ON run_sessions (prompt_id, state);
CREATE INDEX run_sessions_expiry_idx ON run_sessions (state, expires_at);

-- A record: input, the model's last output, the final copied output, the delta chain (JSON:
-- revision deltas and at most one trailing edit delta) and record-level notes.
CREATE TABLE records (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    prompt_id TEXT NOT NULL REFERENCES prompts (id),
    version_id TEXT,
    run_id TEXT,
    source TEXT NOT NULL,
    created_by_key_id TEXT,
    input_text TEXT NOT NULL,
    model_output TEXT NOT NULL,
    final_output TEXT NOT NULL,
    deltas TEXT NOT NULL,
    notes TEXT,
    model_id TEXT,
    input_tokens BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    cost_millicents BIGINT NOT NULL DEFAULT 0,
    client_idempotency_key TEXT,
    revise_lock_until BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_patched_at BIGINT,
    deleted_at BIGINT
);

CREATE INDEX records_user_idx ON records (user_id, id);
CREATE INDEX records_prompt_idx ON records (prompt_id, id);

-- Every upstream call, billable or not, with its cost in millicents.
CREATE TABLE usage_log (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    key_id TEXT,
    run_id TEXT,
    prompt_id TEXT,
    purpose TEXT NOT NULL,
    model_id TEXT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cost_millicents BIGINT NOT NULL,
    billable BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE INDEX usage_log_user_idx ON usage_log (user_id, created_at);

CREATE TABLE user_settings (
    user_id TEXT PRIMARY KEY REFERENCES users (id),
    auto_finalize_mcp_runs BIGINT,
    updated_at BIGINT NOT NULL
);
