//! The MCP server handler: one per session (per request for stateless protocol versions). It
//! lists the tools this key may call (the table's core tools it has the scope and per-tool grant
//! for, plus the user's exposed prompts), dispatches `tools/call`, serves the guide resources, and
//! registers the session's peer for `notifications/tools/list_changed`.

use std::borrow::Cow;
use std::sync::Arc;

use proem_api::scope::Permission;
use proem_core::auth::Principal;
use rmcp::ErrorData as McpError;
use rmcp::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ProtocolVersion, ReadResourceRequestParams, ReadResourceResponse,
    ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{NotificationContext, RequestContext, RoleServer};

use super::dispatch::{self, principal};
use super::hub::SessionGuard;
use super::resources;
use super::table::ToolAccess;
use super::tools::{self, TOOLS};
use super::web::SESSION_HEADER;
use crate::state::AppState;

/// What `initialize` tells the client about using this server well.
const INSTRUCTIONS: &str = "Proem keeps prompts (versions, model settings, attachments), runs \
them, and saves the results as records. Start with proem_get_catalog (valid model_id values) and \
proem_list_prompts. proem_run_prompt returns the output and, by default, saves it as a record \
(autoFinalize). To change an output, call proem_revise_run with the runId (not a new run); for a \
new conversation, run again. Tags on edits are generalizable rules (\"Less formal\"), not \
descriptions of one diff. Failures are problem documents: read reason_code and action_hint. The \
resource proem://docs/agent-guide explains the workflow.";

/// The first protocol version served; rmcp's newer ones (2025-06-18, 2025-11-25, and the
/// stateless 2026-07-28) as well.
const OLDEST: &str = "2025-03-26";

#[derive(Clone)]
pub struct ProemMcp {
    state: AppState,
    session: Arc<SessionGuard>,
}

impl ProemMcp {
    pub fn new(state: AppState) -> Self {
        let session = Arc::new(SessionGuard::new(state.mcp().clone()));
        Self { state, session }
    }
}

/// Whether `caller` may call a tool with `access`, given its tool allow-list.
fn visible(name: &str, access: ToolAccess, caller: &Principal, grants: Option<&[String]>) -> bool {
    let granted = || grants.is_none_or(|g| g.iter().any(|t| t == "*" || t == name));
    match access {
        ToolAccess::Discovery => true,
        ToolAccess::AnyKey => granted(),
        ToolAccess::Key(p) => p.is_granted_by(&caller.key.scopes) && granted(),
    }
}

fn internal(e: impl std::fmt::Display) -> McpError {
    tracing::error!(error = %e, "MCP request failed");
    McpError::internal_error("An unexpected error occurred on the server.", None)
}

impl ServerHandler for ProemMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .enable_resources()
                .build(),
        )
        .with_server_info(
            Implementation::new("proem", env!("CARGO_PKG_VERSION")).with_title("Proem"),
        )
        .with_instructions(INSTRUCTIONS)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        let from = ProtocolVersion::KNOWN_VERSIONS
            .iter()
            .position(|v| v.as_str() >= OLDEST)
            .unwrap_or(0);
        Cow::Borrowed(&ProtocolVersion::KNOWN_VERSIONS[from..])
    }

    async fn on_initialized(&self, ctx: NotificationContext<RoleServer>) {
        let session = ctx
            .extensions
            .get::<http::request::Parts>()
            .and_then(|p| p.headers.get(SESSION_HEADER))
            .and_then(|v| v.to_str().ok());
        if let Some(sid) = session {
            self.session.set(sid);
            self.state.mcp().attach_peer(sid, ctx.peer.clone());
        }
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let caller = principal(&ctx)?;
        let grants = self
            .state
            .store()
            .tool_grants(caller.key_id())
            .await
            .map_err(internal)?;
        let grants = grants.as_deref();
        let mut list: Vec<Tool> = TOOLS
            .iter()
            .filter(|t| visible(t.name, t.access, &caller, grants))
            .map(|t| t.tool())
            .collect();
        let exposed = self
            .state
            .engine()
            .exposed_tools(&caller)
            .await
            .map_err(internal)?;
        list.extend(
            exposed
                .iter()
                .filter(|t| {
                    visible(
                        &t.tool_name,
                        ToolAccess::Key(Permission::RunsExecute),
                        &caller,
                        grants,
                    )
                })
                .map(tools::runs::exposed_tool),
        );
        Ok(ListToolsResult::with_all_items(list))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        TOOLS.iter().find(|t| t.name == name).map(|t| t.tool())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        dispatch::call_tool(&self.state, request, ctx)
            .await
            .map(CallToolResponse::from)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        Ok(ListResourcesResult::with_all_items(resources::list()))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        resources::read(&request.uri).map(ReadResourceResponse::from)
    }
}
