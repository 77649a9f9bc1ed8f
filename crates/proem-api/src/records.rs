//! Record DTOs (spec "Record DTO turns[]", "Record self-management") and run-lifecycle bodies
//! (spec "Run lifecycle body shapes").

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// One entry of a record's synthesized linear history; `index` is what `fromTurn` takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Turn {
    pub index: usize,
    /// `run` (always index 0), `revision`, or `edit` (at most one, always last).
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intermediate_output: Option<String>,
    pub output: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_milli_cents: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordResponse {
    pub id: String,
    pub prompt_id: String,
    /// Null for manual records.
    pub version_id: Option<String>,
    pub run_session_id: Option<String>,
    /// `API`, `Manual`, `App` or `Headless`.
    pub source: String,
    pub input_text: String,
    /// The record's output (its final copied output), maybe truncated in lists; null for an
    /// image record, whose output is its images (`imageStoredPaths`).
    pub output_text: Option<String>,
    /// What the user kept (for an image record, the accumulated prompt). In lists, cut at
    /// `maxOutputChars` like `outputText` (and `truncated` says so); whole in a single read.
    pub final_copied_output: String,
    pub notes: Option<String>,
    /// The edit delta's tag, if any.
    pub tag: Option<String>,
    pub model_id: Option<String>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_milli_cents: i64,
    pub revision_count: usize,
    pub edit_count: usize,
    pub image_count: usize,
    /// Opaque keys of the record's images, every turn's, in order; read the bytes with
    /// `GET /records/{id}/image?index=N`.
    pub image_stored_paths: Vec<String>,
    pub is_one_shot: bool,
    pub client_idempotency_key: Option<String>,
    pub created_by_key_id: Option<String>,
    /// In lists: whether any output-side text was cut at `maxOutputChars`: `outputText`,
    /// `finalCopiedOutput`, or a turn's `output` or `intermediateOutput`. Always false in a
    /// single read, which cuts nothing.
    pub truncated: bool,
    /// In lists: whether `inputText` or a turn's `input` was cut at `maxInputChars`. Always
    /// false in a single read.
    pub input_truncated: bool,
    pub created_at_utc: String,
    pub updated_at_utc: String,
    pub last_patched_at_utc: Option<String>,
    /// The record's history. In lists, each turn's `input` is cut at `maxInputChars` and its
    /// `output` and `intermediateOutput` at `maxOutputChars` (flagged by `inputTruncated` /
    /// `truncated`); a single read returns them whole.
    pub turns: Vec<Turn>,
}

/// `POST /prompts/{id}/run`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunRequest {
    #[serde(default)]
    pub user_input: Option<String>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub version_id: Option<String>,
    #[serde(default)]
    pub auto_finalize: Option<bool>,
    #[serde(default)]
    pub images: Vec<ImageInput>,
}

/// An image for a run: inline base64, or an attachment of the prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageInput {
    #[serde(default)]
    pub inline: Option<bool>,
    #[serde(default)]
    pub base64: Option<String>,
    /// The spec's other name for `base64`.
    #[serde(default)]
    pub data: Option<String>,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub attachment_id: Option<String>,
    /// Accepted only by a local MCP bridge; the server refuses it.
    #[serde(default)]
    pub local_path: Option<String>,
}

/// `POST /runs/{runId}/revise` and `POST /records/{id}/revise`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReviseRequest {
    #[serde(default)]
    pub instruction: Option<String>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub intermediate_output: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<u64>)]
    pub from_turn: Option<Value>,
    #[serde(default)]
    pub auto_finalize: Option<bool>,
}

/// `POST /runs/{runId}/finalize`; every field optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FinalizeRequest {
    #[serde(default)]
    pub final_text: Option<String>,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<u64>)]
    pub from_turn: Option<Value>,
}

/// What finalize returns (and replays).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FinalizeResponse {
    pub run_id: String,
    pub record_id: String,
    pub turns: Vec<Turn>,
    pub cost_milli_cents: i64,
    pub record: RecordResponse,
}

/// `GET /runs/{runId}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunResponse {
    pub run_id: String,
    pub prompt_id: String,
    pub version_id: String,
    pub model_id: String,
    pub state: String,
    pub streaming_in_progress: bool,
    pub turn_count: usize,
    pub turns: Vec<Turn>,
    pub generation: i64,
    pub reopen_count: i64,
    pub finalized_record_id: Option<String>,
    pub failure_reason_code: Option<String>,
    pub cost_milli_cents: i64,
    pub seeded_from_record_id: Option<String>,
    pub created_at_utc: String,
    pub updated_at_utc: String,
    pub expires_at_utc: String,
}

/// `DELETE /runs/{runId}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunCancelled {
    pub run_id: String,
    pub state: String,
}

/// `POST /records` (a manual record: no model call).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateRecordRequest {
    pub prompt_id: String,
    pub input: String,
    pub output: String,
    #[serde(default)]
    pub notes: Option<String>,
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// `PATCH /records/{id}` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordPatched {
    pub id: String,
    pub notes: Option<String>,
    pub tag: Option<String>,
    pub input: String,
    pub output: String,
    pub last_patched_at_utc: Option<String>,
}

/// `GET/PATCH /settings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// The persistent auto-finalize default for runs; per-call autoFinalize wins.
    pub auto_finalize_mcp_runs: bool,
}
