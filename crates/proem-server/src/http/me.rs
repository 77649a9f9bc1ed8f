//! `GET /api/v2/public/me`: the calling key as the server sees it (user, scopes, grants, expiry),
//! for `proem auth status`. It needs `settings:read` (the `read` scope) like the other cheap
//! "about me" route, `GET /settings`: no permission is held by every key, and a read key is the
//! common case.

use axum::Json;
use axum::extract::State;
use proem_api::me::MeResponse;
use proem_core::clock::to_utc_string;

use crate::error::AppResult;
use crate::extract::Caller;
use crate::state::AppState;

/// Who am I
///
/// The calling key: its user, its scopes as stored, the prompts it is restricted to (empty:
/// all of its user's prompts) and when it expires.
#[utoipa::path(
    get,
    path = "/api/v2/public/me",
    tag = "keys",
    responses((status = 200, description = "The calling key and its user.", body = MeResponse)),
)]
pub async fn get_me(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> AppResult<Json<MeResponse>> {
    let grants = state.store().key_grants(caller.key_id()).await?;
    let key = &caller.key;
    Ok(Json(MeResponse {
        user_id: key.user_id.clone(),
        key_id: key.id.clone(),
        key_name: key.name.clone(),
        scopes: key.scopes.clone(),
        grants,
        expires_at_utc: key.expires_at.map(to_utc_string),
    }))
}
