//! `/api/v2/public/prompts/{id}/versions…`: history, read, create, merge-patch (`If-Match`),
//! delete with auto-switch.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use proem_api::prompts::CreateVersionRequest;
use proem_core::versions::VersionPatch;

use super::respond::{created, touching};
use crate::error::AppResult;
use crate::extract::{ApiJson, Caller, IfMatch, PageQuery};
use crate::middleware::idempotency::Idempotency;
use crate::state::AppState;

pub async fn list_versions(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> AppResult<Response> {
    let limit = page.limit()?;
    let list = state
        .engine()
        .list_versions(&caller, &id, limit, page.cursor.as_deref())
        .await?;
    Ok(touching(&id, None, StatusCode::OK, list))
}

pub async fn get_version(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, vid)): Path<(String, String)>,
) -> AppResult<Response> {
    let version = state.engine().get_version(&caller, &id, &vid).await?;
    Ok(touching(&id, Some(&vid), StatusCode::OK, version))
}

pub async fn create_version(
    State(state): State<AppState>,
    Caller(caller): Caller,
    idem: Idempotency,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CreateVersionRequest>,
) -> AppResult<Response> {
    let (tx, version) = state.engine().create_version(&caller, &id, req).await?;
    let location = format!("/api/v2/public/prompts/{id}/versions/{}", version.id);
    let vid = version.id.clone();
    idem.commit(&state, tx, created(&location, &id, &vid, version))
        .await
}

pub async fn patch_version(
    State(state): State<AppState>,
    Caller(caller): Caller,
    idem: Idempotency,
    if_match: IfMatch,
    Path((id, vid)): Path<(String, String)>,
    ApiJson(patch): ApiJson<VersionPatch>,
) -> AppResult<Response> {
    let (tx, version) = state
        .engine()
        .patch_version(&caller, &id, &vid, patch, if_match.0.as_deref())
        .await?;
    idem.commit(
        &state,
        tx,
        touching(&id, Some(&vid), StatusCode::OK, version),
    )
    .await
}

pub async fn delete_version(
    State(state): State<AppState>,
    Caller(caller): Caller,
    idem: Idempotency,
    Path((id, vid)): Path<(String, String)>,
) -> AppResult<Response> {
    let (tx, deleted) = state.engine().delete_version(&caller, &id, &vid).await?;
    idem.commit(
        &state,
        tx,
        touching(&id, Some(&vid), StatusCode::OK, deleted),
    )
    .await
}
