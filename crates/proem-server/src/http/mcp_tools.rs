//! `POST /api/v2/prompts/{id}/mcp-toggle` and `…/mcp-rename` (spec changelog v1.3): a prompt
//! exposed as its own MCP tool, `proem_{slug}`. The name is derived once and kept across prompt
//! renames until mcp-rename re-derives it. Live MCP sessions of the user are told the tool list
//! changed.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use proem_api::ReasonCode;
use proem_api::mcp::{McpToggleRequest, McpToolState};
use proem_api::problem::Problem;

use super::openapi::{IdempotencyKey, PROBLEM, problems};
use super::respond::touching;
use crate::error::AppResult;
use crate::extract::{ApiJson, Caller};
use crate::middleware::idempotency::Idempotency;
use crate::state::AppState;

/// Expose a prompt as an MCP tool
///
/// `{"expose": true}` adds the tool `proem_{slug}` to the user's MCP tool list (at most 50 per
/// user); `false` removes it and keeps its name for next time.
#[utoipa::path(
    post,
    path = "/api/v2/prompts/{id}/mcp-toggle",
    tag = "prompts",
    params(("id" = String, Path, description = "The prompt id."), IdempotencyKey),
    request_body(content = McpToggleRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The prompt's MCP tool now.", body = McpToolState),
        (status = 403, description = problems(&[ReasonCode::GrantRequired]), body = Problem, content_type = PROBLEM),
        (status = 404, description = problems(&[ReasonCode::PromptNotFound]), body = Problem, content_type = PROBLEM),
        (status = 409, description = problems(&[ReasonCode::McpToolCapReached, ReasonCode::ToolNameTaken, ReasonCode::ToolNameReserved]), body = Problem, content_type = PROBLEM),
    ),
)]
pub async fn toggle_mcp_tool(
    State(state): State<AppState>,
    Caller(caller): Caller,
    idem: Idempotency,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<McpToggleRequest>,
) -> AppResult<Response> {
    let reserved = crate::mcp::reserved_tool_names();
    let (tx, tool) = state
        .engine()
        .set_mcp_exposure(&caller, &id, req.expose, &reserved)
        .await?;
    let response = idem
        .commit(&state, tx, touching(&id, Some(&id), StatusCode::OK, tool))
        .await?;
    state
        .mcp()
        .notify_tools_changed(caller.user_id(), &state.engine().tasks);
    Ok(response)
}

/// Re-derive a prompt's MCP tool name
///
/// Sets the tool name to `proem_{slug}` of the prompt's current name, for when the user wants
/// the tool to follow a rename. Agents calling the old name get `unknown_tool`.
#[utoipa::path(
    post,
    path = "/api/v2/prompts/{id}/mcp-rename",
    tag = "prompts",
    params(("id" = String, Path, description = "The prompt id."), IdempotencyKey),
    responses(
        (status = 200, description = "The prompt's MCP tool now.", body = McpToolState),
        (status = 403, description = problems(&[ReasonCode::GrantRequired]), body = Problem, content_type = PROBLEM),
        (status = 404, description = problems(&[ReasonCode::PromptNotFound]), body = Problem, content_type = PROBLEM),
        (status = 409, description = problems(&[ReasonCode::ToolNameTaken, ReasonCode::ToolNameReserved]), body = Problem, content_type = PROBLEM),
    ),
)]
pub async fn rename_mcp_tool(
    State(state): State<AppState>,
    Caller(caller): Caller,
    idem: Idempotency,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let reserved = crate::mcp::reserved_tool_names();
    let (tx, tool) = state
        .engine()
        .rename_mcp_tool(&caller, &id, &reserved)
        .await?;
    let response = idem
        .commit(&state, tx, touching(&id, Some(&id), StatusCode::OK, tool))
        .await?;
    state
        .mcp()
        .notify_tools_changed(caller.user_id(), &state.engine().tasks);
    Ok(response)
}
