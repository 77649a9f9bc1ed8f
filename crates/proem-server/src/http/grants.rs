//! `GET/POST/DELETE /api/v2/keys/{keyId}/grants`: per-prompt grants are managed by people, never
//! by the agents holding the keys (spec "Per-prompt grants"). The routes are session-only; until
//! web sessions exist, operators use `proem admin key grant|ungrant|grants`.

use proem_api::ReasonCode;

use crate::error::AppError;

/// Reached only by a caller the gate let through, which no API key is.
pub async fn manage_grants() -> AppError {
    AppError::new(
        ReasonCode::ApiKeyNotPermitted,
        "Grants are managed from a signed-in session or with `proem admin key grant`.",
    )
}
