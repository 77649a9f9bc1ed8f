-- Prompts, their versions and attachments. Deletes are soft (deleted_at); a deleted prompt hides
-- everything under it.
CREATE TABLE prompts (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    abbreviation TEXT,
    current_version_id TEXT,
    expose_as_mcp_tool BIGINT NOT NULL DEFAULT 0,
    mcp_tool_name TEXT,
    attachment_count BIGINT NOT NULL DEFAULT 0,
    attachment_bytes BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);

CREATE INDEX prompts_user_idx ON prompts (user_id, id);

-- description_mode: 0 = Auto (the server writes description), 1 = Manual (the caller owns it).
-- description_gen counts promptText changes, so a describer job started before a later change
-- cannot overwrite the newer description.
CREATE TABLE prompt_versions (
    id TEXT PRIMARY KEY,
    prompt_id TEXT NOT NULL REFERENCES prompts (id),
    version_number BIGINT NOT NULL,
    prompt_text TEXT NOT NULL,
    model_settings TEXT NOT NULL,
    version_description TEXT,
    description TEXT,
    description_mode BIGINT NOT NULL DEFAULT 0,
    description_gen BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT,
    CONSTRAINT prompt_versions_number_key UNIQUE (prompt_id, version_number)
);

-- Bytes live in the blob store under blob_key (content-addressed by sha256).
CREATE TABLE attachments (
    id TEXT PRIMARY KEY,
    prompt_id TEXT NOT NULL REFERENCES prompts (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    filename TEXT NOT NULL,
    kind TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    blob_key TEXT NOT NULL,
    width BIGINT,
    height BIGINT,
    created_at BIGINT NOT NULL,
    deleted_at BIGINT
);

CREATE INDEX attachments_prompt_idx ON attachments (prompt_id, id);
CREATE INDEX attachments_dedupe_idx ON attachments (prompt_id, filename, sha256);

-- Bytes of live attachments per user, for the 1 GB quota; updated with a conditional UPDATE so
-- concurrent uploads cannot overshoot.
CREATE TABLE user_storage (
    user_id TEXT PRIMARY KEY REFERENCES users (id),
    bytes BIGINT NOT NULL
);
