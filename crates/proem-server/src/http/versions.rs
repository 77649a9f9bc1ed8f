//! `/api/v2/public/prompts/{id}/versions…`: history, read, create, merge-patch (`If-Match`),
//! delete with auto-switch.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use proem_api::ReasonCode;
use proem_api::problem::Problem;
use proem_api::prompts::{CreateVersionRequest, VersionDeleted, VersionList, VersionResponse};
use proem_core::versions::VersionPatch;

use super::openapi::{IdempotencyKey, IfMatch as IfMatchHeader, PROBLEM, PageParams, problems};
use super::respond::{created, touching};
use crate::error::AppResult;
use crate::extract::{ApiJson, Caller, IfMatch, PageQuery};
use crate::middleware::idempotency::Idempotency;
use crate::state::AppState;

/// List versions
///
/// A prompt's version history, highest `versionNumber` first.
#[utoipa::path(
    get,
    path = "/api/v2/public/prompts/{id}/versions",
    tag = "versions",
    params(("id" = String, Path, description = "The prompt id."), PageParams),
    responses(
        (status = 200, description = "A page of versions and the current version id.", body = VersionList),
        (status = 400, description = problems(&[ReasonCode::ParamOutOfRange, ReasonCode::InvalidParams, ReasonCode::InvalidCursor, ReasonCode::CursorFilterMismatch]), body = Problem, content_type = PROBLEM),
        (status = 403, description = problems(&[ReasonCode::GrantRequired]), body = Problem, content_type = PROBLEM),
        (status = 404, description = problems(&[ReasonCode::PromptNotFound]), body = Problem, content_type = PROBLEM),
    ),
)]
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

/// Get a version
#[utoipa::path(
    get,
    path = "/api/v2/public/prompts/{id}/versions/{vid}",
    tag = "versions",
    params(("id" = String, Path, description = "The prompt id."), ("vid" = String, Path, description = "The version id.")),
    responses(
        (status = 200, description = "The version; its `etag` is the `If-Match` token for a patch.", body = VersionResponse),
        (status = 403, description = problems(&[ReasonCode::GrantRequired]), body = Problem, content_type = PROBLEM),
        (status = 404, description = problems(&[ReasonCode::PromptNotFound, ReasonCode::VersionNotFound]), body = Problem, content_type = PROBLEM),
    ),
)]
pub async fn get_version(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, vid)): Path<(String, String)>,
) -> AppResult<Response> {
    let version = state.engine().get_version(&caller, &id, &vid).await?;
    Ok(touching(&id, Some(&vid), StatusCode::OK, version))
}

/// Create a version
///
/// Appends a version with the next `versionNumber`; `setAsCurrent` switches to it in the same
/// transaction.
#[utoipa::path(
    post,
    path = "/api/v2/public/prompts/{id}/versions",
    tag = "versions",
    params(("id" = String, Path, description = "The prompt id."), IdempotencyKey),
    request_body(content = CreateVersionRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; `Location` names the new version.", body = VersionResponse,
            headers(("Location" = String, description = "`/api/v2/public/prompts/{id}/versions/{vid}`"))),
        (status = 400, description = problems(&[ReasonCode::InvalidParams, ReasonCode::InvalidModelSettings]), body = Problem, content_type = PROBLEM),
        (status = 403, description = problems(&[ReasonCode::GrantRequired]), body = Problem, content_type = PROBLEM),
        (status = 404, description = problems(&[ReasonCode::PromptNotFound]), body = Problem, content_type = PROBLEM),
        (status = 409, description = problems(&[ReasonCode::VersionCreateContention]), body = Problem, content_type = PROBLEM),
        (status = 413, description = problems(&[ReasonCode::FieldTooLarge]), body = Problem, content_type = PROBLEM),
    ),
)]
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

/// Patch a version
///
/// RFC 7396 merge patch of a version in place. Writing `description` switches it to Manual; `""`
/// clears it and returns to Auto. Send the version's `etag` in `If-Match` to refuse the patch
/// when someone changed the version since you read it.
#[utoipa::path(
    patch,
    path = "/api/v2/public/prompts/{id}/versions/{vid}",
    tag = "versions",
    params(("id" = String, Path, description = "The prompt id."), ("vid" = String, Path, description = "The version id."), IfMatchHeader, IdempotencyKey),
    request_body(content(
        (VersionPatch = "application/merge-patch+json"),
        (VersionPatch = "application/json"),
    )),
    responses(
        (status = 200, description = "The version after the patch, with its new `etag`.", body = VersionResponse),
        (status = 400, description = problems(&[ReasonCode::InvalidParams, ReasonCode::InvalidModelSettings]), body = Problem, content_type = PROBLEM),
        (status = 403, description = problems(&[ReasonCode::GrantRequired]), body = Problem, content_type = PROBLEM),
        (status = 404, description = problems(&[ReasonCode::PromptNotFound, ReasonCode::VersionNotFound]), body = Problem, content_type = PROBLEM),
        (status = 412, description = problems(&[ReasonCode::PreconditionFailed]), body = Problem, content_type = PROBLEM),
        (status = 413, description = problems(&[ReasonCode::FieldTooLarge]), body = Problem, content_type = PROBLEM),
    ),
)]
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

/// Delete a version
///
/// Soft-deletes a version. Deleting the current version switches the prompt to its
/// lowest-numbered remaining version and returns it as `newCurrentVersionId`.
#[utoipa::path(
    delete,
    path = "/api/v2/public/prompts/{id}/versions/{vid}",
    tag = "versions",
    params(("id" = String, Path, description = "The prompt id."), ("vid" = String, Path, description = "The version id."), IdempotencyKey),
    responses(
        (status = 200, description = "The deleted version, and the new current version if it changed.", body = VersionDeleted),
        (status = 403, description = problems(&[ReasonCode::GrantRequired]), body = Problem, content_type = PROBLEM),
        (status = 404, description = problems(&[ReasonCode::PromptNotFound, ReasonCode::VersionNotFound]), body = Problem, content_type = PROBLEM),
        (status = 409, description = problems(&[ReasonCode::CannotDeleteOnlyVersion]), body = Problem, content_type = PROBLEM),
    ),
)]
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
