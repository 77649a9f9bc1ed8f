//! `GET/PATCH /api/v2/public/settings`: the caller's persistent defaults. `autoFinalizeMcpRuns`
//! decides whether runs chain a finalize when the call does not say (per-call always wins).

use axum::Json;
use axum::extract::State;
use proem_api::patch::Patch;
use proem_api::records::Settings;
use serde::Deserialize;

use super::openapi::IdempotencyKey;
use crate::error::AppResult;
use crate::extract::{ApiJson, Caller};
use crate::state::AppState;

/// Merge patch of `PATCH /settings`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SettingsPatch {
    /// Whether runs chain a finalize when the call does not say; `null` returns to the default
    /// (on).
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    auto_finalize_mcp_runs: Patch<bool>,
}

/// Get settings
///
/// The caller's persistent defaults.
#[utoipa::path(
    get,
    path = "/api/v2/public/settings",
    tag = "settings",
    responses((status = 200, description = "The caller's settings.", body = Settings)),
)]
pub async fn get_settings(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> AppResult<Json<Settings>> {
    Ok(Json(state.engine().settings(&caller).await?))
}

/// Patch settings
///
/// RFC 7396 merge patch of the caller's defaults: an absent field is left alone, `null` returns it
/// to the server default.
#[utoipa::path(
    patch,
    path = "/api/v2/public/settings",
    tag = "settings",
    params(IdempotencyKey),
    request_body(content(
        (SettingsPatch = "application/merge-patch+json"),
        (SettingsPatch = "application/json"),
    )),
    responses((status = 200, description = "The settings after the patch.", body = Settings)),
)]
pub async fn patch_settings(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(patch): ApiJson<SettingsPatch>,
) -> AppResult<Json<Settings>> {
    let value = match patch.auto_finalize_mcp_runs {
        Patch::Absent => return Ok(Json(state.engine().settings(&caller).await?)),
        // null returns to the server default (on).
        Patch::Clear => None,
        Patch::Set(v) => Some(v),
    };
    Ok(Json(
        state.engine().set_auto_finalize(&caller, value).await?,
    ))
}
