//! Records: `GET /records` (filters, truncation), `GET /records/{id}`, `PATCH /records/{id}`
//! (merge patch), `DELETE /records/{id}` (creating key, 24 h), `POST /records` (manual),
//! `GET /records/{id}/image`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use proem_api::ReasonCode;
use proem_api::problem::Problem;
use proem_api::prompts::Page;
use proem_api::records::{CreateRecordRequest, RecordPatched, RecordResponse};
use proem_core::records::{RecordPatch, RecordQuery};
use serde::Deserialize;

use super::openapi::{IdempotencyKey, PROBLEM, PageParams, problems};
use super::respond::{self, created, touching};
use crate::error::{AppError, AppResult};
use crate::extract::{ApiJson, Caller, PageQuery};
use crate::middleware::guard::Touched;
use crate::middleware::idempotency::Idempotency;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    prompt_id: Option<String>,
    version_id: Option<String>,
    source: Option<String>,
    created_by: Option<String>,
    client_idempotency_key: Option<String>,
    run_session_id: Option<String>,
    max_output_chars: Option<String>,
    max_input_chars: Option<String>,
    #[serde(flatten)]
    page: PageQuery,
}

fn int_param(name: &str, raw: Option<&str>) -> AppResult<Option<i64>> {
    raw.map(|v| {
        v.parse::<i64>().map_err(|_| {
            AppError::new(
                ReasonCode::InvalidParams,
                format!("{name} must be an integer; got `{v}`."),
            )
            .with_param(name, "invalid_type")
        })
    })
    .transpose()
}

/// List records
///
/// The caller's records, newest first, filtered by any of the query parameters. `inputText` and
/// `outputText` are cut at `maxInputChars` / `maxOutputChars`; `inputTruncated` / `truncated`
/// say when they were.
#[utoipa::path(
    get,
    path = "/api/v2/public/records",
    tag = "records",
    params(
        ("promptId" = Option<String>, Query, description = "Only this prompt's records."),
        ("versionId" = Option<String>, Query, description = "Only records of this version."),
        ("source" = Option<String>, Query, description = "`API`, `Manual`, `App` or `Headless` (any case)."),
        ("createdBy" = Option<String>, Query, description = "Only records created by this API key id."),
        ("clientIdempotencyKey" = Option<String>, Query, description = "Only the record of the run, or the manual record, sent with this idempotency key."),
        ("runSessionId" = Option<String>, Query, description = "Only the record this run finalized into."),
        ("maxInputChars" = Option<i64>, Query, minimum = 0, maximum = 32768, description = "Cut `inputText` at this many characters, 0–32768 (default 4096)."),
        ("maxOutputChars" = Option<i64>, Query, minimum = 0, maximum = 32768, description = "Cut `outputText` at this many characters, 0–32768 (default 4096)."),
        PageParams,
    ),
    responses(
        (status = 200, description = "A page of records.", body = Page<RecordResponse>),
        (status = 400, description = problems(&[ReasonCode::ParamOutOfRange, ReasonCode::InvalidParams, ReasonCode::InvalidSource, ReasonCode::InvalidCursor, ReasonCode::CursorFilterMismatch]), body = Problem, content_type = PROBLEM),
        (status = 403, description = problems(&[ReasonCode::GrantRequired]), body = Problem, content_type = PROBLEM),
        (status = 404, description = problems(&[ReasonCode::PromptNotFound]), body = Problem, content_type = PROBLEM),
    ),
)]
pub async fn list_records(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(q): Query<ListQuery>,
) -> AppResult<Response> {
    let limit = q.page.limit()?;
    let query = RecordQuery {
        max_output_chars: int_param("maxOutputChars", q.max_output_chars.as_deref())?,
        max_input_chars: int_param("maxInputChars", q.max_input_chars.as_deref())?,
        prompt_id: q.prompt_id,
        version_id: q.version_id,
        source: q.source,
        created_by: q.created_by,
        client_idempotency_key: q.client_idempotency_key,
        run_id: q.run_session_id,
    };
    let page = state
        .engine()
        .list_records(&caller, query, limit, q.page.cursor.as_deref())
        .await?;
    Ok(axum::Json(page).into_response())
}

/// Get a record
#[utoipa::path(
    get,
    path = "/api/v2/public/records/{id}",
    tag = "records",
    params(("id" = String, Path, description = "The record id.")),
    responses(
        (status = 200, description = "The record with its turns, untruncated.", body = RecordResponse),
        (status = 403, description = problems(&[ReasonCode::GrantRequired]), body = Problem, content_type = PROBLEM),
        (status = 404, description = problems(&[ReasonCode::RecordNotFound]), body = Problem, content_type = PROBLEM),
    ),
)]
pub async fn get_record(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let record = state.engine().get_record(&caller, &id).await?;
    let prompt_id = record.prompt_id.clone();
    Ok(touching(&prompt_id, Some(&id), StatusCode::OK, record))
}

/// Patch a record
///
/// RFC 7396 merge patch by the key that created the record, at any time. `notes` is
/// record-level; `output` creates or updates the edit delta and `tag` labels it; writing the
/// model's output back removes the edit; `fromTurn: N` reverts to turn N. Manual records change
/// only `notes`, `input` and `output`.
#[utoipa::path(
    patch,
    path = "/api/v2/public/records/{id}",
    tag = "records",
    params(("id" = String, Path, description = "The record id."), IdempotencyKey),
    request_body(content(
        (RecordPatch = "application/merge-patch+json"),
        (RecordPatch = "application/json"),
    )),
    responses(
        (status = 200, description = "The record's patchable fields after the patch.", body = RecordPatched),
        (status = 400, description = problems(&[ReasonCode::InvalidParams, ReasonCode::InvalidRequest, ReasonCode::FromTurnInvalid, ReasonCode::FromTurnOutOfRange, ReasonCode::TagRequiresOutput, ReasonCode::TagRequiresDistinctOutput, ReasonCode::TagWouldBeLostOnRevert]), body = Problem, content_type = PROBLEM),
        (status = 403, description = problems(&[ReasonCode::GrantRequired, ReasonCode::RecordNotOwnedByApiKey]), body = Problem, content_type = PROBLEM),
        (status = 404, description = problems(&[ReasonCode::RecordNotFound]), body = Problem, content_type = PROBLEM),
        (status = 409, description = problems(&[ReasonCode::RecordNoEditDelta]), body = Problem, content_type = PROBLEM),
        (status = 413, description = problems(&[ReasonCode::NotesTooLarge, ReasonCode::TagTooLarge, ReasonCode::InputTooLarge, ReasonCode::OutputTooLarge]), body = Problem, content_type = PROBLEM),
    ),
)]
pub async fn patch_record(
    State(state): State<AppState>,
    Caller(caller): Caller,
    idem: Idempotency,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<RecordPatch>,
) -> AppResult<Response> {
    let (tx, patched, prompt_id) = state.engine().patch_record(&caller, &id, patch).await?;
    idem.commit(
        &state,
        tx,
        touching(&prompt_id, Some(&id), StatusCode::OK, patched),
    )
    .await
}

/// Delete a record
///
/// Deletes the record for good, only by the key that created it and within 24 h of its creation.
/// The run it came from forgets it: finalizing or revising that run again is `record_was_deleted`.
#[utoipa::path(
    delete,
    path = "/api/v2/public/records/{id}",
    tag = "records",
    params(("id" = String, Path, description = "The record id."), IdempotencyKey),
    responses(
        (status = 204, description = "Deleted."),
        (status = 403, description = problems(&[ReasonCode::GrantRequired, ReasonCode::RecordNotOwnedByApiKey]), body = Problem, content_type = PROBLEM),
        (status = 404, description = problems(&[ReasonCode::RecordNotFound]), body = Problem, content_type = PROBLEM),
        (status = 409, description = problems(&[ReasonCode::RecordSelfDeleteWindowExpired]), body = Problem, content_type = PROBLEM),
    ),
)]
pub async fn delete_record(
    State(state): State<AppState>,
    Caller(caller): Caller,
    idem: Idempotency,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let (tx, prompt_id) = state.engine().delete_record(&caller, &id).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.extensions_mut().insert(Touched {
        prompt_id: Some(prompt_id),
        object_id: Some(id),
    });
    idem.commit(&state, tx, response).await
}

/// Create a record
///
/// A manual record: an input/output seed pair for a text prompt, no model call. The body's
/// `idempotencyKey` (24 h) returns the record it created for the same payload.
#[utoipa::path(
    post,
    path = "/api/v2/public/records",
    tag = "records",
    params(IdempotencyKey),
    request_body(content = CreateRecordRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; `Location` names the new record.", body = RecordResponse,
            headers(("Location" = String, description = "`/api/v2/public/records/{id}`"))),
        (status = 200, description = "The body's `idempotencyKey` already created this record.", body = RecordResponse),
        (status = 400, description = problems(&[ReasonCode::InvalidParams]), body = Problem, content_type = PROBLEM),
        (status = 403, description = problems(&[ReasonCode::GrantRequired]), body = Problem, content_type = PROBLEM),
        (status = 404, description = problems(&[ReasonCode::PromptNotFound]), body = Problem, content_type = PROBLEM),
        (status = 409, description = problems(&[ReasonCode::IdempotencyKeyReused, ReasonCode::ManualRecordModalityUndetermined, ReasonCode::ManualRecordModalityNotSupported, ReasonCode::PromptRecordCapReached]), body = Problem, content_type = PROBLEM),
        (status = 413, description = problems(&[ReasonCode::InputTooLarge, ReasonCode::OutputTooLarge, ReasonCode::NotesTooLarge]), body = Problem, content_type = PROBLEM),
    ),
)]
pub async fn create_record(
    State(state): State<AppState>,
    Caller(caller): Caller,
    idem: Idempotency,
    ApiJson(req): ApiJson<CreateRecordRequest>,
) -> AppResult<Response> {
    let (tx, record, is_new) = state.engine().create_record(&caller, req).await?;
    let location = format!("/api/v2/public/records/{}", record.id);
    let (prompt_id, id) = (record.prompt_id.clone(), record.id.clone());
    let response = if is_new {
        created(&location, &prompt_id, &id, record)
    } else {
        touching(&prompt_id, Some(&id), StatusCode::OK, record)
    };
    idem.commit(&state, tx, response).await
}

#[derive(Debug, Deserialize)]
pub struct ImageQuery {
    index: Option<String>,
}

/// Get a record image
///
/// Image `index` (default 0) of the images the record keeps: every turn's, in turn order
/// (`imageStoredPaths`). A text record answers `no_image_stored`.
#[utoipa::path(
    get,
    path = "/api/v2/public/records/{id}/image",
    tag = "records",
    params(
        ("id" = String, Path, description = "The record id."),
        ("index" = Option<i64>, Query, minimum = 0, description = "The image index, ≥ 0 (default 0)."),
    ),
    responses(
        (status = 200, description = "The image's bytes (PNG, JPEG or WebP, as the model made it).", content_type = "image/png"),
        (status = 400, description = problems(&[ReasonCode::InvalidParams, ReasonCode::InvalidIndex]), body = Problem, content_type = PROBLEM),
        (status = 403, description = problems(&[ReasonCode::GrantRequired]), body = Problem, content_type = PROBLEM),
        (status = 404, description = problems(&[ReasonCode::RecordNotFound, ReasonCode::NoImageStored, ReasonCode::ImageIndexOutOfRange, ReasonCode::InvalidImageReference]), body = Problem, content_type = PROBLEM),
    ),
)]
pub async fn get_record_image(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Query(q): Query<ImageQuery>,
) -> AppResult<Response> {
    let index = int_param("index", q.index.as_deref())?.unwrap_or(0);
    if index < 0 {
        return Err(
            AppError::new(ReasonCode::InvalidIndex, "index must be ≥ 0.")
                .with_param("index", "invalid_index"),
        );
    }
    let index = usize::try_from(index).unwrap_or(usize::MAX);
    let (mime_type, bytes) = state.engine().record_image(&caller, &id, index).await?;
    Ok(respond::image(&mime_type, bytes))
}
