//! Attachment DTOs (spec "Attachment management").

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An attachment's metadata; bytes come from `GET /attachments/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentResponse {
    pub id: String,
    pub prompt_id: String,
    pub filename: String,
    /// `text` or `image`.
    #[serde(rename = "type")]
    pub kind: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<i64>,
    pub created_at_utc: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentList {
    pub items: Vec<AttachmentResponse>,
}

/// `POST /prompts/{id}/attachments` as JSON (multipart/form-data is the other form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UploadAttachmentRequest {
    #[serde(default)]
    pub filename: Option<String>,
    /// The file's bytes, standard base64.
    pub base64: String,
    /// `text` or `image`; inferred from the bytes when absent.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}
