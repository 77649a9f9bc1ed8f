//! `GET/POST/DELETE /api/v2/keys/{keyId}/grants`: per-prompt grants are managed by people, never
//! by the agents holding the keys (spec "Per-prompt grants"). The routes are session-only; until
//! web sessions exist, operators use `proem admin key grant|ungrant|grants`.

use proem_api::ReasonCode;

use crate::error::AppError;

/// Manage a key's grants
///
/// Lists, adds or removes the prompts a key is restricted to. Operators use
/// `proem admin key grant|ungrant|grants` until web sessions exist.
#[utoipa::path(
    method(get, post, delete),
    path = "/api/v2/keys/{key_id}/grants",
    tag = "grants",
    params(("key_id" = String, Path, description = "The key id, `key_…`.")),
    responses(),
)]
// Reached only by a caller the gate let through, which no API key is.
pub async fn manage_grants() -> AppError {
    AppError::new(
        ReasonCode::ApiKeyNotPermitted,
        "Grants are managed from a signed-in session or with `proem admin key grant`.",
    )
}
