//! The plain-HTTP edges of the MCP door: the `WWW-Authenticate` challenge on a 401, the binding
//! of sessions to keys, the RFC 9728 protected-resource metadata, and the durable result of a
//! tool call (`GET /mcp/sessions/{sid}/calls/{callId}`, spec "Differences from local CLI MCP").

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use proem_api::ReasonCode;
use proem_core::auth::Principal;
use proem_core::clock::to_utc_string;
use proem_core::store::mcp::CallKey;
use serde_json::{Value, json};

use crate::error::{AppError, AppResult};
use crate::extract::Caller;
use crate::state::AppState;

pub const SESSION_HEADER: &str = "mcp-session-id";
/// The session id under which calls outside any session (stateless requests) are kept.
pub const NO_SESSION: &str = "-";

/// Adds the RFC 9728 challenge to a 401 from `/mcp`, so a client can discover how to
/// authenticate.
pub async fn challenge(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    if response.status() == StatusCode::UNAUTHORIZED {
        let value = format!(
            "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource\"",
            state.public_url()
        );
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
    }
    response
}

/// Refuses a session id created by another key; binds each new session to its key.
pub async fn bind_session(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(principal) = req.extensions().get::<Principal>().cloned() else {
        return next.run(req).await;
    };
    let presented = req
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let hub = state.mcp();
    if let Some(sid) = &presented
        && let Some(owner) = hub.owner(sid)
        && owner != principal.key_id()
    {
        return AppError::new(
            ReasonCode::McpSessionNotOwned,
            "This Mcp-Session-Id was created by another API key.",
        )
        .into_response();
    }
    let deleting = req.method() == Method::DELETE;
    let response = next.run(req).await;
    match presented {
        None => {
            if let Some(sid) = response
                .headers()
                .get(SESSION_HEADER)
                .and_then(|v| v.to_str().ok())
            {
                hub.bind(sid, principal.key_id(), principal.user_id());
            }
        }
        Some(sid) if deleting && response.status().is_success() => hub.forget(&sid),
        Some(_) => {}
    }
    response
}

/// `GET /.well-known/oauth-protected-resource`: `/mcp` as an OAuth protected resource. No
/// authorization server yet; keys are sent as `Authorization: Bearer pmk_…`.
pub async fn protected_resource(State(state): State<AppState>) -> Json<Value> {
    let base = state.public_url();
    Json(json!({
        "resource": format!("{base}/mcp"),
        "authorization_servers": [],
        "bearer_methods_supported": ["header"],
        "scopes_supported": ["read", "execute", "write"],
        "resource_name": "Proem MCP",
        "resource_documentation": format!("{base}/docs"),
    }))
}

/// `GET /mcp/sessions/{sid}/calls/{callId}`: the stored result of a run tool call made by this
/// key, `running` until it completes.
pub async fn get_call_result(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((sid, call_id)): Path<(String, String)>,
) -> AppResult<Response> {
    if let Some(owner) = state.mcp().owner(&sid)
        && owner != caller.key_id()
    {
        return Err(AppError::new(
            ReasonCode::McpSessionNotOwned,
            "This MCP session was created by another API key.",
        ));
    }
    let key = CallKey {
        key_id: caller.key_id(),
        session_id: &sid,
        call_id: &call_id,
    };
    let Some(row) = state.store().mcp_call(key).await? else {
        return Err(AppError::new(
            ReasonCode::McpCallNotFound,
            format!("No stored result for call {call_id} in session {sid}."),
        ));
    };
    let result = row
        .result
        .as_deref()
        .and_then(|r| serde_json::from_str::<Value>(r).ok());
    Ok(Json(json!({
        "sessionId": sid,
        "callId": call_id,
        "tool": row.tool,
        "state": row.state,
        "result": result,
        "createdAtUtc": to_utc_string(row.created_at),
        "completedAtUtc": row.completed_at.map(to_utc_string),
    }))
    .into_response())
}
