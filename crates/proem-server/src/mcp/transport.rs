//! rmcp's Streamable HTTP service as Proem configures it: sessions with an idle timeout, `Host`
//! and `Origin` validation, the request body limit and a shutdown token. `/mcp` and the
//! conformance build (`examples/mcp_conformance.rs`) both build their service here, so the
//! conformance suite exercises the transport the product serves, not a look-alike.

use std::sync::Arc;
use std::time::Duration;

use rmcp::ServerHandler;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

/// An idle MCP session (no request, no open stream) is closed after this long; the client then
/// initializes a new one.
const SESSION_IDLE: Duration = Duration::from_secs(3600);

/// What differs between the services built by [`transport`].
pub struct TransportOptions {
    /// Accepted `Host` values (a bare host matches any port); others get 403.
    pub hosts: Vec<String>,
    /// Accepted browser `Origin` values; validation is always on, a request without `Origin`
    /// (CLI agents) passes.
    pub origins: Vec<String>,
    /// The largest POST body, in bytes (413 beyond).
    pub body_limit: usize,
    /// Cancelling it closes every session and open stream.
    pub cancel: CancellationToken,
}

/// The Streamable HTTP service serving a fresh handler from `factory` per session.
pub fn transport<S: ServerHandler + Send + 'static>(
    factory: impl Fn() -> Result<S, std::io::Error> + Send + Sync + 'static,
    options: TransportOptions,
) -> StreamableHttpService<S, LocalSessionManager> {
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.keep_alive = Some(SESSION_IDLE);
    StreamableHttpService::new(
        factory,
        Arc::new(sessions),
        StreamableHttpServerConfig::default()
            .with_allowed_hosts(options.hosts)
            .with_allowed_origins(options.origins)
            .enforce_origin_validation()
            .with_max_request_body_bytes(options.body_limit)
            .with_cancellation_token(options.cancel),
    )
}
