//! `GET /api/v2/public/me`: who the presented key is: its user, scopes, per-prompt grants and
//! expiry. What `proem auth status` shows.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The calling key and its user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeResponse {
    pub user_id: String,
    pub key_id: String,
    pub key_name: String,
    /// As stored: coarse (`read`), resource (`prompts:read`) or wildcard (`records:*`, `*`).
    pub scopes: Vec<String>,
    /// Prompt ids the key is restricted to; empty means it reaches all of its user's prompts.
    pub grants: Vec<String>,
    /// Null when the key never expires.
    pub expires_at_utc: Option<String>,
}
