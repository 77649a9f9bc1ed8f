//! Rows of the MCP door: per-key tool allow-lists, issue reports, stored tool-call results, and
//! the lookups behind synthesized per-prompt tools and the MCP-only delete guards.

use sqlx::{Any, AnyConnection, Executor};

use super::prompts::PromptRow;
use super::{Store, StoreError, StoreResult};

/// Stored tool-call results are kept this long.
pub const CALL_RESULT_TTL_MS: i64 = 24 * 3600 * 1000;

/// An issue an agent filed with `proem_report_issue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueReport {
    pub id: String,
    pub user_id: String,
    pub key_id: Option<String>,
    /// `bug` or `feature_request`.
    pub kind: String,
    pub title: Option<String>,
    pub body: String,
    /// The tool the report is about, if the agent named one.
    pub tool_name: Option<String>,
    pub created_at: i64,
}

/// Identifies one tool call: the key that made it, its MCP session and its JSON-RPC id.
#[derive(Debug, Clone, Copy)]
pub struct CallKey<'a> {
    pub key_id: &'a str,
    pub session_id: &'a str,
    pub call_id: &'a str,
}

/// A stored tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRow {
    pub tool: String,
    /// `running` or `complete`.
    pub state: String,
    /// The CallToolResult as JSON, once complete.
    pub result: Option<String>,
    pub created_at: i64,
    pub completed_at: Option<i64>,
}

/// A prompt exposed as a synthesized tool, with what its current version contributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExposedRow {
    pub prompt_id: String,
    pub name: String,
    pub tool_name: String,
    pub description: Option<String>,
    pub model_settings: Option<String>,
}

impl Store {
    /// A key's tool allow-list: `None` when unset (every tool its scopes permit).
    pub async fn tool_grants(&self, key_id: &str) -> StoreResult<Option<Vec<String>>> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT tools FROM key_tool_grants WHERE key_id = $1")
                .bind(key_id)
                .fetch_optional(self.reader())
                .await?;
        row.map(|(tools,)| {
            serde_json::from_str(&tools)
                .map_err(|e| StoreError::Corrupt(format!("key_tool_grants.tools of {key_id}: {e}")))
        })
        .transpose()
    }

    /// Sets a key's tool allow-list, or (`None`) clears it back to unset.
    pub async fn set_tool_grants(&self, key_id: &str, tools: Option<&[String]>) -> StoreResult<()> {
        match tools {
            None => {
                sqlx::query("DELETE FROM key_tool_grants WHERE key_id = $1")
                    .bind(key_id)
                    .execute(self.writer())
                    .await?;
            }
            Some(tools) => {
                let json = serde_json::to_string(tools)
                    .map_err(|e| StoreError::Corrupt(format!("tools: {e}")))?;
                sqlx::query(
                    "INSERT INTO key_tool_grants (key_id, tools, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (key_id) DO UPDATE SET tools = excluded.tools, updated_at = excluded.updated_at",
                )
                .bind(key_id)
                .bind(json)
                .bind(self.now_ms())
                .execute(self.writer())
                .await?;
            }
        }
        Ok(())
    }

    pub async fn insert_issue_report(&self, r: &IssueReport) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO issue_reports (id, user_id, key_id, kind, title, body, tool_name, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&r.id)
        .bind(&r.user_id)
        .bind(&r.key_id)
        .bind(&r.kind)
        .bind(&r.title)
        .bind(&r.body)
        .bind(&r.tool_name)
        .bind(r.created_at)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// The newest issue reports first, for the operator.
    pub async fn issue_reports(&self, limit: u32) -> StoreResult<Vec<IssueReport>> {
        type Row = (
            String,
            String,
            Option<String>,
            String,
            Option<String>,
            String,
            Option<String>,
            i64,
        );
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, user_id, key_id, kind, title, body, tool_name, created_at FROM issue_reports \
             ORDER BY created_at DESC, id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(self.reader())
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, user_id, key_id, kind, title, body, tool_name, created_at)| IssueReport {
                    id,
                    user_id,
                    key_id,
                    kind,
                    title,
                    body,
                    tool_name,
                    created_at,
                },
            )
            .collect())
    }

    /// Records that a call started (a retried id starts over).
    pub async fn mcp_call_started(
        &self,
        key: CallKey<'_>,
        user_id: &str,
        tool: &str,
    ) -> StoreResult<()> {
        let now = self.now_ms();
        sqlx::query(
            "INSERT INTO mcp_call_results (key_id, session_id, call_id, user_id, tool, state, result, created_at, completed_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, 'running', NULL, $6, NULL, $7) \
             ON CONFLICT (key_id, session_id, call_id) DO UPDATE SET user_id = excluded.user_id, tool = excluded.tool, \
             state = 'running', result = NULL, created_at = excluded.created_at, completed_at = NULL, expires_at = excluded.expires_at",
        )
        .bind(key.key_id)
        .bind(key.session_id)
        .bind(key.call_id)
        .bind(user_id)
        .bind(tool)
        .bind(now)
        .bind(now + CALL_RESULT_TTL_MS)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// Stores a call's final result.
    pub async fn mcp_call_completed(&self, key: CallKey<'_>, result: &str) -> StoreResult<()> {
        let now = self.now_ms();
        sqlx::query(
            "UPDATE mcp_call_results SET state = 'complete', result = $1, completed_at = $2, expires_at = $3 \
             WHERE key_id = $4 AND session_id = $5 AND call_id = $6",
        )
        .bind(result)
        .bind(now)
        .bind(now + CALL_RESULT_TTL_MS)
        .bind(key.key_id)
        .bind(key.session_id)
        .bind(key.call_id)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    /// A stored call of this key, unless it expired.
    pub async fn mcp_call(&self, key: CallKey<'_>) -> StoreResult<Option<CallRow>> {
        type Row = (String, String, Option<String>, i64, Option<i64>);
        let row: Option<Row> = sqlx::query_as(
            "SELECT tool, state, result, created_at, completed_at FROM mcp_call_results \
             WHERE key_id = $1 AND session_id = $2 AND call_id = $3 AND expires_at > $4",
        )
        .bind(key.key_id)
        .bind(key.session_id)
        .bind(key.call_id)
        .bind(self.now_ms())
        .fetch_optional(self.reader())
        .await?;
        Ok(
            row.map(|(tool, state, result, created_at, completed_at)| CallRow {
                tool,
                state,
                result,
                created_at,
                completed_at,
            }),
        )
    }

    /// Deletes stored calls past their 24 h.
    pub async fn sweep_mcp_calls(&self) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM mcp_call_results WHERE expires_at <= $1")
            .bind(self.now_ms())
            .execute(self.writer())
            .await?;
        Ok(done.rows_affected())
    }
}

/// The user's live prompts exposed as tools, by tool name; with `restricted_to_key`, only the
/// prompts granted to that key.
pub async fn exposed_prompts<'e>(
    e: impl Executor<'e, Database = Any>,
    user_id: &str,
    restricted_to_key: Option<&str>,
) -> StoreResult<Vec<ExposedRow>> {
    type Row = (String, String, String, Option<String>, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT p.id, p.name, p.mcp_tool_name, v.description, v.model_settings FROM prompts p \
         LEFT JOIN prompt_versions v ON v.id = p.current_version_id AND v.deleted_at IS NULL \
         WHERE p.user_id = $1 AND p.deleted_at IS NULL AND p.expose_as_mcp_tool = 1 AND p.mcp_tool_name IS NOT NULL \
           AND ($2 IS NULL OR p.id IN (SELECT prompt_id FROM key_grants WHERE key_id = $2)) \
         ORDER BY p.mcp_tool_name",
    )
    .bind(user_id)
    .bind(restricted_to_key)
    .fetch_all(e)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(prompt_id, name, tool_name, description, model_settings)| ExposedRow {
                prompt_id,
                name,
                tool_name,
                description,
                model_settings,
            },
        )
        .collect())
}

/// The id of the user's live prompt other than `except` holding `tool_name`, if any.
pub async fn tool_name_holder<'e>(
    e: impl Executor<'e, Database = Any>,
    user_id: &str,
    tool_name: &str,
    except: &str,
) -> StoreResult<Option<String>> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT id FROM prompts WHERE user_id = $1 AND mcp_tool_name = $2 AND id <> $3 AND deleted_at IS NULL",
    )
    .bind(user_id)
    .bind(tool_name)
    .bind(except)
    .fetch_optional(e)
    .await?;
    Ok(row.map(|(id,)| id))
}

/// How many of the user's live prompts other than `except` are exposed as tools.
pub async fn count_exposed<'e>(
    e: impl Executor<'e, Database = Any>,
    user_id: &str,
    except: &str,
) -> StoreResult<i64> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM prompts WHERE user_id = $1 AND id <> $2 AND deleted_at IS NULL AND expose_as_mcp_tool = 1",
    )
    .bind(user_id)
    .bind(except)
    .fetch_one(e)
    .await?;
    Ok(n)
}

/// The user's live prompt exposed under `tool_name`, if any.
pub async fn prompt_by_tool_name<'e>(
    e: impl Executor<'e, Database = Any>,
    user_id: &str,
    tool_name: &str,
) -> StoreResult<Option<String>> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT id FROM prompts WHERE user_id = $1 AND mcp_tool_name = $2 AND expose_as_mcp_tool = 1 AND deleted_at IS NULL",
    )
    .bind(user_id)
    .bind(tool_name)
    .fetch_optional(e)
    .await?;
    Ok(row.map(|(id,)| id))
}

/// Locks the user's row for the rest of the transaction, serializing tool-name changes per user
/// (the cap and the uniqueness check read, then write).
pub async fn lock_user(conn: &mut AnyConnection, user_id: &str) -> StoreResult<()> {
    sqlx::query("UPDATE users SET email = email WHERE id = $1")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Ids of the live (Active, Running, Finalizing) unexpired sessions of a prompt.
pub async fn live_runs_of_prompt<'e>(
    e: impl Executor<'e, Database = Any>,
    prompt_id: &str,
    now: i64,
) -> StoreResult<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT id FROM run_sessions WHERE prompt_id = $1 AND state IN ('Active', 'Running', 'Finalizing') \
         AND expires_at > $2 ORDER BY id",
    )
    .bind(prompt_id)
    .bind(now)
    .fetch_all(e)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Ids of the live unexpired sessions pinned to a version.
pub async fn live_runs_of_version<'e>(
    e: impl Executor<'e, Database = Any>,
    version_id: &str,
    now: i64,
) -> StoreResult<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT id FROM run_sessions WHERE version_id = $1 AND state IN ('Active', 'Running', 'Finalizing') \
         AND expires_at > $2 ORDER BY id",
    )
    .bind(version_id)
    .bind(now)
    .fetch_all(e)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Writes a prompt's exposure and tool name.
pub async fn set_exposure(conn: &mut AnyConnection, p: &PromptRow) -> StoreResult<()> {
    sqlx::query(
        "UPDATE prompts SET expose_as_mcp_tool = $1, mcp_tool_name = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(i64::from(p.expose_as_mcp_tool))
    .bind(&p.mcp_tool_name)
    .bind(p.updated_at)
    .bind(&p.id)
    .execute(conn)
    .await?;
    Ok(())
}
