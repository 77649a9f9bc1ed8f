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
mod transport;
mod web;

use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::get;

pub use hub::McpHub;
pub use table::{ToolAccess, ToolDef};
pub use tools::TOOLS;
pub use transport::{TransportOptions, transport};

use crate::middleware::auth;
use crate::state::AppState;

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
    let service_state = state.clone();
    let service = transport(
        move || Ok(server::ProemMcp::new(service_state.clone())),
        TransportOptions {
            hosts,
            origins,
            body_limit: config.http.body_limit_bytes,
            cancel: state.mcp().shutdown().child_token(),
        },
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
