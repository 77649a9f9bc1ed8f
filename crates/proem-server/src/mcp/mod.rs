//! The MCP door (spec "Hosted MCP", hosted-mcp-tools): Streamable HTTP at `/mcp` on the API's
//! listener, behind the same key authentication as REST, serving the tools of [`tools::TOOLS`]
//! (named `proem_<name>`), one synthesized tool per exposed prompt, and two guide resources.
//!
//! Around rmcp's service: a 401 carries `WWW-Authenticate` pointing at the RFC 9728 metadata
//! (`GET /.well-known/oauth-protected-resource`); a session is bound to the key that created it
//! ([`hub::McpHub`]); `Host` and `Origin` are checked by rmcp against `[mcp]` in the config; and
//! `GET /mcp/sessions/{sid}/calls/{callId}` returns a run's result after a dropped connection.

mod dispatch;
mod errors;
mod hub;
mod resources;
mod schema;
mod server;
mod table;
mod tools;
mod web;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::get;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

pub use hub::McpHub;
pub use table::{ToolAccess, ToolDef};
pub use tools::TOOLS;

use crate::middleware::auth;
use crate::state::AppState;

/// An idle MCP session (no request, no open stream) is closed after this long; the client then
/// initializes a new one.
const SESSION_IDLE: Duration = Duration::from_secs(3600);

/// Names of the core tools, which no prompt's synthesized tool may take.
pub fn reserved_tool_names() -> Vec<&'static str> {
    TOOLS.iter().map(|t| t.name).collect()
}

/// The `/mcp` routes, authenticated; merged into the application router outside the request
/// deadline, since a tool call streams for as long as its run takes.
pub fn router(state: &AppState) -> Router<AppState> {
    let config = state.config();
    let mut hosts = config.mcp.allowed_hosts.clone();
    hosts.push(config.listen.ip().to_string());
    hosts.extend(host_of(state.public_url()));
    let mut origins = config.mcp.allowed_origins.clone();
    origins.push(state.public_url().to_string());
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.keep_alive = Some(SESSION_IDLE);
    let service_state = state.clone();
    let service = StreamableHttpService::new(
        move || Ok(server::ProemMcp::new(service_state.clone())),
        Arc::new(sessions),
        StreamableHttpServerConfig::default()
            .with_allowed_hosts(hosts)
            .with_allowed_origins(origins)
            .enforce_origin_validation()
            .with_max_request_body_bytes(config.http.body_limit_bytes)
            .with_cancellation_token(state.mcp().shutdown().child_token()),
    );
    Router::new()
        .nest_service("/mcp", service)
        .route(
            "/mcp/sessions/{sid}/calls/{call_id}",
            get(web::get_call_result),
        )
        .layer(from_fn_with_state(state.clone(), web::bind_session))
        .layer(from_fn_with_state(state.clone(), auth::authenticate))
        .layer(from_fn_with_state(state.clone(), web::challenge))
        .route_layer(from_fn(crate::http::tag_route))
}

/// The open route describing `/mcp` as an OAuth protected resource (RFC 9728).
pub fn open_routes() -> Router<AppState> {
    Router::new().route(
        "/.well-known/oauth-protected-resource",
        get(web::protected_resource),
    )
}

/// The host of a URL such as `https://proem.example.com:8443`, for the allowed hosts.
fn host_of(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next()?;
    (!authority.is_empty()).then(|| authority.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_keeps_the_authority() {
        assert_eq!(
            host_of("https://proem.example.com:8443/x").as_deref(),
            Some("proem.example.com:8443")
        );
        assert_eq!(
            host_of("http://127.0.0.1:8080").as_deref(),
            Some("127.0.0.1:8080")
        );
        assert_eq!(host_of(""), None);
    }
}
