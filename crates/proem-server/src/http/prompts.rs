//! `/api/v2/public/prompts…`: list, read, create, merge-patch, switch current version, delete.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use proem_api::prompts::{CreatePromptRequest, SwitchVersionRequest};
use proem_core::prompts::PromptPatch;

use super::respond::{created, touching};
use crate::error::AppResult;
use crate::extract::{ApiJson, Caller, PageQuery};
use crate::middleware::idempotency::Idempotency;
use crate::state::AppState;

pub async fn list_prompts(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(page): Query<PageQuery>,
) -> AppResult<Response> {
    let limit = page.limit()?;
    let list = state
        .engine()
        .list_prompts(&caller, limit, page.cursor.as_deref())
        .await?;
    Ok(Json(list).into_response())
}

pub async fn get_prompt(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let detail = state.engine().get_prompt(&caller, &id).await?;
    Ok(touching(&id, None, StatusCode::OK, detail))
}

pub async fn create_prompt(
    State(state): State<AppState>,
    Caller(caller): Caller,
    idem: Idempotency,
    ApiJson(req): ApiJson<CreatePromptRequest>,
) -> AppResult<Response> {
    let (tx, created_prompt) = state.engine().create_prompt(&caller, req).await?;
    let location = format!("/api/v2/public/prompts/{}", created_prompt.prompt_id);
    let id = created_prompt.prompt_id.clone();
    idem.commit(&state, tx, created(&location, &id, &id, created_prompt))
        .await
}

pub async fn patch_prompt(
    State(state): State<AppState>,
    Caller(caller): Caller,
    idem: Idempotency,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<PromptPatch>,
) -> AppResult<Response> {
    let (tx, detail) = state.engine().patch_prompt(&caller, &id, patch).await?;
    idem.commit(&state, tx, touching(&id, Some(&id), StatusCode::OK, detail))
        .await
}

pub async fn switch_current_version(
    State(state): State<AppState>,
    Caller(caller): Caller,
    idem: Idempotency,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SwitchVersionRequest>,
) -> AppResult<Response> {
    let (tx, current) = state
        .engine()
        .switch_current_version(&caller, &id, &req.version_id)
        .await?;
    idem.commit(
        &state,
        tx,
        touching(&id, Some(&req.version_id), StatusCode::OK, current),
    )
    .await
}

pub async fn delete_prompt(
    State(state): State<AppState>,
    Caller(caller): Caller,
    idem: Idempotency,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let (tx, deleted) = state.engine().delete_prompt(&caller, &id).await?;
    idem.commit(
        &state,
        tx,
        touching(&id, Some(&id), StatusCode::OK, deleted),
    )
    .await
}
