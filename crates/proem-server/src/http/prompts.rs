//! `/api/v2/public/prompts…`: list, read, create, merge-patch, switch current version, delete.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use proem_api::ReasonCode;
use proem_api::problem::Problem;
use proem_api::prompts::{
    CreatePromptRequest, CurrentVersion, Page, PromptCreated, PromptDeleted, PromptDetail,
    PromptSummary, SwitchVersionRequest,
};
use proem_core::prompts::PromptPatch;

use super::openapi::{IdempotencyKey, PROBLEM, PageParams, problems};
use super::respond::{created, touching};
use crate::error::AppResult;
use crate::extract::{ApiJson, Caller, PageQuery};
use crate::middleware::idempotency::Idempotency;
use crate::state::AppState;

/// List prompts
///
/// The caller's prompts in the slim DTO, newest first.
#[utoipa::path(
    get,
    path = "/api/v2/public/prompts",
    tag = "prompts",
    params(PageParams),
    responses(
        (status = 200, description = "A page of prompts.", body = Page<PromptSummary>),
        (status = 400, description = problems(&[ReasonCode::ParamOutOfRange, ReasonCode::InvalidParams, ReasonCode::InvalidCursor, ReasonCode::CursorFilterMismatch]), body = Problem, content_type = PROBLEM),
    ),
)]
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

/// Get a prompt
///
/// The prompt with its current version.
#[utoipa::path(
    get,
    path = "/api/v2/public/prompts/{id}",
    tag = "prompts",
    params(("id" = String, Path, description = "The prompt id.")),
    responses(
        (status = 200, description = "The prompt and its current version.", body = PromptDetail),
        (status = 403, description = problems(&[ReasonCode::GrantRequired]), body = Problem, content_type = PROBLEM),
        (status = 404, description = problems(&[ReasonCode::PromptNotFound]), body = Problem, content_type = PROBLEM),
    ),
)]
pub async fn get_prompt(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let detail = state.engine().get_prompt(&caller, &id).await?;
    Ok(touching(&id, None, StatusCode::OK, detail))
}

/// Create a prompt
///
/// Creates the prompt with its first version, which becomes current.
#[utoipa::path(
    post,
    path = "/api/v2/public/prompts",
    tag = "prompts",
    params(IdempotencyKey),
    request_body(content = CreatePromptRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; `Location` names the new prompt.", body = PromptCreated,
            headers(("Location" = String, description = "`/api/v2/public/prompts/{id}`"))),
        (status = 400, description = problems(&[ReasonCode::InvalidParams, ReasonCode::InvalidModelSettings]), body = Problem, content_type = PROBLEM),
        (status = 413, description = problems(&[ReasonCode::FieldTooLarge]), body = Problem, content_type = PROBLEM),
    ),
)]
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

/// Patch a prompt
///
/// RFC 7396 merge patch of `name` and `abbreviation`: an absent field is left alone, `null`
/// clears it.
#[utoipa::path(
    patch,
    path = "/api/v2/public/prompts/{id}",
    tag = "prompts",
    params(("id" = String, Path, description = "The prompt id."), IdempotencyKey),
    request_body(content(
        (PromptPatch = "application/merge-patch+json"),
        (PromptPatch = "application/json"),
    )),
    responses(
        (status = 200, description = "The prompt after the patch.", body = PromptDetail),
        (status = 400, description = problems(&[ReasonCode::InvalidParams]), body = Problem, content_type = PROBLEM),
        (status = 403, description = problems(&[ReasonCode::GrantRequired]), body = Problem, content_type = PROBLEM),
        (status = 404, description = problems(&[ReasonCode::PromptNotFound]), body = Problem, content_type = PROBLEM),
        (status = 413, description = problems(&[ReasonCode::FieldTooLarge]), body = Problem, content_type = PROBLEM),
    ),
)]
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

/// Switch the current version
///
/// Returns the current version as read back from the database after the update.
#[utoipa::path(
    put,
    path = "/api/v2/public/prompts/{id}/current-version",
    tag = "prompts",
    params(("id" = String, Path, description = "The prompt id."), IdempotencyKey),
    request_body(content = SwitchVersionRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The prompt's current version now.", body = CurrentVersion),
        (status = 403, description = problems(&[ReasonCode::GrantRequired]), body = Problem, content_type = PROBLEM),
        (status = 404, description = problems(&[ReasonCode::PromptNotFound, ReasonCode::VersionNotFound]), body = Problem, content_type = PROBLEM),
    ),
)]
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

/// Delete a prompt
///
/// Soft-deletes the prompt with its versions and attachments. Deleting it again answers the same.
#[utoipa::path(
    delete,
    path = "/api/v2/public/prompts/{id}",
    tag = "prompts",
    params(("id" = String, Path, description = "The prompt id."), IdempotencyKey),
    responses(
        (status = 200, description = "`{promptId, status: \"deleted\"}`.", body = PromptDeleted),
        (status = 403, description = problems(&[ReasonCode::GrantRequired]), body = Problem, content_type = PROBLEM),
        (status = 404, description = problems(&[ReasonCode::PromptNotFound]), body = Problem, content_type = PROBLEM),
    ),
)]
pub async fn delete_prompt(
    State(state): State<AppState>,
    Caller(caller): Caller,
    idem: Idempotency,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let (tx, deleted) = state.engine().delete_prompt(&caller, &id).await?;
    let response = idem
        .commit(
            &state,
            tx,
            touching(&id, Some(&id), StatusCode::OK, deleted),
        )
        .await?;
    // The prompt may have been one of the user's MCP tools.
    state
        .mcp()
        .notify_tools_changed(caller.user_id(), &state.engine().tasks);
    Ok(response)
}
