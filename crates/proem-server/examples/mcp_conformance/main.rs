//! The conformance build: the fixture surface the official MCP conformance suite
//! (`@modelcontextprotocol/conformance`) expects of a server under test (`test_*` tools, `test://`
//! resources, `test_*` prompts, completion, logging), served over the same Streamable HTTP
//! transport as Proem's `/mcp` ([`proem_server::mcp_transport`]). The fixtures live here, not in
//! the product, and there is no authentication: the suite cannot send a key, and the product's own
//! run goes through `interop/conformance/auth-proxy.mjs` instead. `.ci/conformance` runs it.
//!
//! Usage: `mcp_conformance [PORT]` (or `MCP_CONFORMANCE_PORT`; 0, the default, picks a free port).
//! It serves `http://127.0.0.1:PORT/mcp`, prints that URL on stdout, and stops on Ctrl-C.

#![expect(
    deprecated,
    reason = "the suite tests logging, sampling and resources/subscribe, which rmcp marks deprecated (SEP-2577)"
)]

mod catalog;
mod tools;

use std::sync::atomic::{AtomicU8, Ordering};

use axum::Router;
use proem_server::{McpTransportOptions, mcp_transport};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CompleteRequestParams, CompleteResult,
    GetPromptRequestParams, GetPromptResponse, Implementation, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, LoggingLevel,
    LoggingMessageNotificationParam, PaginatedRequestParams, ReadResourceRequestParams,
    ReadResourceResponse, ServerCapabilities, ServerConfig, SetLevelRequestParams,
    SubscribeRequestParams, UnsubscribeRequestParams,
};
use rmcp::service::{Peer, RequestContext, RoleServer};
use rmcp::{ErrorData as McpError, ServerHandler};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// The fixture server; one per session, so the log level and subscriptions are the session's.
#[derive(Default)]
struct Fixtures {
    /// The minimum level of `notifications/message` sent, as [`rank`] orders levels.
    log_level: AtomicU8,
    subscriptions: Mutex<Vec<String>>,
}

/// Severity order of the MCP log levels (debug lowest), for `logging/setLevel` filtering.
fn rank(level: LoggingLevel) -> u8 {
    level as u8
}

impl Fixtures {
    /// Sends `message` at `level` unless the client asked for less.
    async fn log(&self, peer: &Peer<RoleServer>, level: LoggingLevel, message: &str) {
        if rank(level) < self.log_level.load(Ordering::Relaxed) {
            return;
        }
        let note = LoggingMessageNotificationParam::new(level, message.into())
            .with_logger("mcp_conformance");
        // A client that went away misses the message; the tool's result still says what happened.
        let _ = peer.notify_logging_message(note).await;
    }
}

impl ServerHandler for Fixtures {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_logging()
                .enable_completions()
                .enable_prompts()
                .enable_resources()
                .enable_resources_subscribe()
                .enable_tools()
                .build(),
        )
        .with_server_info(Implementation::new(
            "proem-mcp-conformance",
            env!("CARGO_PKG_VERSION"),
        ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(tools::list()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        tools::call(self, request, ctx)
            .await
            .map(CallToolResponse::from)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        Ok(ListResourcesResult::with_all_items(catalog::resources()))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        Ok(ListResourceTemplatesResult::with_all_items(
            catalog::resource_templates(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        catalog::read(&request.uri).map(ReadResourceResponse::from)
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let mut subscriptions = self.subscriptions.lock().await;
        if !subscriptions.contains(&request.uri) {
            subscriptions.push(request.uri);
        }
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.subscriptions
            .lock()
            .await
            .retain(|u| *u != request.uri);
        Ok(())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        Ok(ListPromptsResult::with_all_items(catalog::prompts()))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        catalog::get_prompt(&request).map(GetPromptResponse::from)
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        catalog::complete(&request)
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.log_level.store(rank(request.level), Ordering::Relaxed);
        Ok(())
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("MCP_CONFORMANCE_PORT").ok())
        .map_or(Ok(0), |p| p.parse::<u16>())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    // `[mcp]` and `[http]` as a default `proem serve` on loopback has them.
    let defaults = proem_core::Config::default();
    let service = mcp_transport(
        || Ok(Fixtures::default()),
        McpTransportOptions {
            hosts: defaults.mcp.allowed_hosts,
            origins: defaults.mcp.allowed_origins,
            body_limit: defaults.http.body_limit_bytes,
            cancel: shutdown.child_token(),
        },
    );
    let app = Router::new().nest_service("/mcp", service);
    println!("http://{addr}/mcp");
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            // Open streams (a session's GET stream never ends by itself) close now.
            shutdown.cancel();
        })
        .await
}
