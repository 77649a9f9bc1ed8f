//! Per-request context available to any code running inside a request: the request id and the
//! public origin, so an error rendered anywhere carries them without threading them through.

use std::sync::Arc;

tokio::task_local! {
    static CONTEXT: RequestContext;
}

#[derive(Debug, Clone)]
pub struct RequestContext {
    pub request_id: Arc<str>,
    pub public_url: Arc<str>,
}

/// The request id, also kept in the request's extensions for code that runs outside the request's
/// task (the MCP session worker).
#[derive(Debug, Clone)]
pub struct RequestId(pub Arc<str>);

/// Runs `fut` with `ctx` as the current request context.
pub async fn scope<F: Future>(ctx: RequestContext, fut: F) -> F::Output {
    CONTEXT.scope(ctx, fut).await
}

/// The current request id, or `req_unknown` outside a request.
pub fn request_id() -> Arc<str> {
    CONTEXT
        .try_with(|c| c.request_id.clone())
        .unwrap_or_else(|_| Arc::from("req_unknown"))
}

/// The public origin for `type` URLs, or empty (a relative URL) outside a request.
pub fn public_url() -> Arc<str> {
    CONTEXT
        .try_with(|c| c.public_url.clone())
        .unwrap_or_else(|_| Arc::from(""))
}
