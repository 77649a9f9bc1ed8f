//! The Proem HTTP server: the REST routers, the middleware every route passes through (request id,
//! metrics, timeout, authentication, scopes), problem pages and metrics. `serve` is the whole
//! server as a library function so tests run it on `127.0.0.1:0`.

mod background;
mod context;
mod error;
mod extract;
mod http;
mod mcp;
mod metrics;
mod middleware;
mod state;

use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use error::AppError;
pub use http::router;
pub use http::routes::ROUTES;
pub use http::table::{Access, RouteDef};
pub use mcp::{
    TOOLS as MCP_TOOLS, ToolAccess as McpToolAccess, ToolDef as McpToolDef,
    TransportOptions as McpTransportOptions, transport as mcp_transport,
};
pub use state::AppState;

/// Serves `state` on `listener` until `shutdown` is cancelled, then lets in-flight requests finish
/// for up to the configured grace period.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;

    let grace = Duration::from_secs(state.config().http.shutdown_grace_secs);
    let addr = listener.local_addr()?;
    // Both legs of the proxy run with TCP_NODELAY: a streamed token must not wait for Nagle.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let app = router(state.clone());
    let signal = shutdown.clone();
    let mcp = state.mcp().shutdown().clone();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        signal.cancelled().await;
        // Open MCP streams (a session's GET stream never ends by itself) close now.
        mcp.cancel();
    });
    tracing::info!(listen = %addr, "proem listening");
    tokio::select! {
        result = server => result?,
        () = async {
            shutdown.cancelled().await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace_secs = grace.as_secs(), "shutdown grace period elapsed; dropping remaining connections");
        }
    }
    state.stop_background().await;
    state.store().close().await;
    Ok(())
}
