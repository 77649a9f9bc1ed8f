//! Prompt and version DTOs of the agent API (spec "Endpoints": Read and Write tables; v1.3
//! changelog for descriptions). camelCase; times are `*AtUtc` ISO 8601 strings ending in `Z`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// A list page: `nextCursor` is absent (not null) on the last page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A prompt in lists (the slim DTO).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromptSummary {
    pub id: String,
    pub name: String,
    pub abbreviation: Option<String>,
    pub current_version_id: Option<String>,
    /// The current version's one-sentence capability description.
    pub description: Option<String>,
    /// `text` or `image`, from the current version's model.
    pub output_modality: String,
    pub expose_as_mcp_tool: bool,
    /// The synthesized MCP tool name while the prompt is exposed, else null.
    pub mcp_tool_name: Option<String>,
    pub created_at_utc: String,
    pub updated_at_utc: String,
}

/// `GET /prompts/{id}`: the prompt with its current version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromptDetail {
    #[serde(flatten)]
    pub prompt: PromptSummary,
    /// `ok`, or `missing` when currentVersionId points to a deleted version.
    pub current_version_status: String,
    pub current_version: Option<VersionResponse>,
}

/// A version in full.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionResponse {
    pub id: String,
    pub prompt_id: String,
    pub version_number: i64,
    pub prompt_text: String,
    /// `{ "model_id": …, "parameters": { … } }`
    pub model_settings: Value,
    /// The same settings as a JSON string.
    pub model_settings_json: String,
    pub version_description: Option<String>,
    pub description: Option<String>,
    /// 0 = Auto (server-written), 1 = Manual.
    pub description_mode: u8,
    pub is_current: bool,
    pub created_at_utc: String,
    pub updated_at_utc: String,
    /// The If-Match token for the next PATCH: `updatedAt` in lowercase hex.
    pub etag: String,
}

/// A version in the history list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionSummary {
    pub id: String,
    pub version_number: i64,
    pub version_description: Option<String>,
    pub description: Option<String>,
    pub description_mode: u8,
    pub is_current: bool,
    pub created_at_utc: String,
    pub updated_at_utc: String,
}

/// `GET /prompts/{id}/versions`: highest versionNumber first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionList {
    pub items: Vec<VersionSummary>,
    pub current_version_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `POST /prompts`. Capability descriptions live on versions (v1.3): no `description` here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreatePromptRequest {
    pub name: String,
    pub prompt_text: String,
    pub model_settings: Value,
    #[serde(default)]
    pub abbreviation: Option<String>,
    #[serde(default)]
    pub version_description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromptCreated {
    pub prompt_id: String,
    pub current_version_id: String,
    pub version_number: i64,
}

/// `POST /prompts/{id}/versions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateVersionRequest {
    pub prompt_text: String,
    pub model_settings: Value,
    #[serde(default)]
    pub version_description: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub description_mode: Option<u8>,
    #[serde(default)]
    pub set_as_current: bool,
}

/// `PUT /prompts/{id}/current-version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SwitchVersionRequest {
    pub version_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CurrentVersion {
    pub prompt_id: String,
    /// The state after the update, read back from the database.
    pub current_version_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromptDeleted {
    pub prompt_id: String,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionDeleted {
    pub prompt_id: String,
    pub version_id: String,
    pub status: String,
    /// Set when the deleted version was current and another took its place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_current_version_id: Option<String>,
}
