//! `GET/PATCH /api/v2/public/settings`: the caller's persistent defaults. `autoFinalizeMcpRuns`
//! decides whether runs chain a finalize when the call does not say (per-call always wins).

use axum::Json;
use axum::extract::State;
use proem_api::patch::Patch;
use proem_api::records::Settings;
use serde::Deserialize;

use crate::error::AppResult;
use crate::extract::{ApiJson, Caller};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SettingsPatch {
    #[serde(default)]
    auto_finalize_mcp_runs: Patch<bool>,
}

pub async fn get_settings(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> AppResult<Json<Settings>> {
    Ok(Json(state.engine().settings(&caller).await?))
}

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
