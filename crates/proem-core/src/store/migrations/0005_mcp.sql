-- The MCP door: per-key tool allow-lists, issue reports for the operator, and the results of
-- tool calls kept for clients whose connection dropped.

-- A key's per-tool allow-list (spec "Per-tool grants"). No row: unset, every tool the key's scopes
-- permit. tools is a JSON array of tool names; ["*"] allows every tool, [] none but discovery.
CREATE TABLE key_tool_grants (
    key_id TEXT PRIMARY KEY REFERENCES api_keys (id),
    tools TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- proem_report_issue: a bug or feature request an agent filed, for the operator to read.
CREATE TABLE issue_reports (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    key_id TEXT,
    kind TEXT NOT NULL,
    title TEXT,
    body TEXT NOT NULL,
    tool_name TEXT,
    created_at BIGINT NOT NULL
);

CREATE INDEX issue_reports_created_idx ON issue_reports (created_at);

-- The outcome of a long tool call (a run), per key, MCP session and JSON-RPC id: state is
-- running until the call completes, then complete with the CallToolResult as JSON. Kept 24 h.
CREATE TABLE mcp_call_results (
    key_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    call_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    tool TEXT NOT NULL,
    state TEXT NOT NULL,
    result TEXT,
    created_at BIGINT NOT NULL,
    completed_at BIGINT,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (key_id, session_id, call_id)
);

CREATE INDEX mcp_call_results_expiry_idx ON mcp_call_results (expires_at);

-- Synthesized per-prompt tools are looked up by (user, tool name).
CREATE INDEX prompts_mcp_tool_idx ON prompts (user_id, mcp_tool_name);
