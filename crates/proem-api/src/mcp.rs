//! DTOs of the MCP door that also cross REST: exposing a prompt as a synthesized MCP tool
//! (`POST /api/v2/prompts/{id}/mcp-toggle` and `…/mcp-rename`, spec changelog v1.3).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/v2/prompts/{id}/mcp-toggle`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct McpToggleRequest {
    /// `true` exposes the prompt as the MCP tool `proem_{slug}`; `false` hides it (the name is
    /// kept, so exposing it again brings back the same tool).
    pub expose: bool,
}

/// A prompt's synthesized MCP tool, as mcp-toggle and mcp-rename leave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct McpToolState {
    pub prompt_id: String,
    pub expose_as_mcp_tool: bool,
    /// `proem_{slug}`: stable across prompt renames until mcp-rename re-derives it.
    pub mcp_tool_name: Option<String>,
}
