//! Runs: `POST /prompts/{id}/run`, `POST /runs/{runId}/revise`, `POST /records/{id}/revise` (all
//! SSE), `POST /runs/{runId}/finalize`, `GET /runs/{runId}`, `DELETE /runs/{runId}`.
//! Problems are HTTP errors only until the stream starts; after that, failures are events.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use proem_api::ReasonCode;
use proem_api::problem::Problem;
use proem_api::records::{
    FinalizeRequest, FinalizeResponse, ReviseRequest, RunCancelled, RunRequest, RunResponse,
};
use serde::Deserialize;

use super::openapi::{IdempotencyKey, PROBLEM, RUN_EVENTS, problems};
use super::respond::touching;
use super::sse;
use crate::error::{AppError, AppResult};
use crate::extract::{ApiJson, Caller, parse_json};
use crate::middleware::guard::Touched;
use crate::middleware::idempotency::{IDEMPOTENCY_KEY, Idempotency};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunQuery {
    auto_finalize: Option<String>,
    persist: Option<String>,
}

fn query_bool(name: &str, raw: Option<&str>) -> AppResult<Option<bool>> {
    match raw {
        None => Ok(None),
        Some("true" | "1") => Ok(Some(true)),
        Some("false" | "0") => Ok(Some(false)),
        Some(other) => Err(AppError::new(
            ReasonCode::InvalidParams,
            format!("{name} is true or false; got `{other}`."),
        )
        .with_param(name, "invalid_type")),
    }
}

fn streamed(
    state: &AppState,
    prompt_id: &str,
    events: proem_core::runs::TurnStream,
    run_id: &str,
) -> Response {
    let keep_alive = std::time::Duration::from_secs(state.config().http.sse_keep_alive_secs);
    let mut response = sse::stream(events, keep_alive);
    response.extensions_mut().insert(Touched {
        prompt_id: Some(prompt_id.to_owned()),
        object_id: Some(run_id.to_owned()),
    });
    response
}

/// Run a prompt
///
/// Opens a run of the prompt's current version (or `versionId`) and streams its first turn.
/// `"stream": true` is required. Auto-finalize (body `autoFinalize`, else `?autoFinalize`, else
/// the caller's setting, else on) chains a finalize after the turn.
#[utoipa::path(
    post,
    path = "/api/v2/public/prompts/{id}/run",
    tag = "runs",
    params(
        ("id" = String, Path, description = "The prompt id."),
        ("autoFinalize" = Option<bool>, Query, description = "`true` or `false`: finalize into a record when the turn succeeds. The body's `autoFinalize` wins."),
        IdempotencyKey,
    ),
    request_body(content = RunRequest, content_type = "application/json"),
    responses(
        (status = 200, description = RUN_EVENTS, content_type = "text/event-stream"),
        (status = 400, description = problems(&[ReasonCode::StreamRequired, ReasonCode::InvalidParams, ReasonCode::InvalidModelSettings, ReasonCode::InvalidImageBase64, ReasonCode::InvalidImageFormat]), body = Problem, content_type = PROBLEM),
        (status = 403, description = problems(&[ReasonCode::GrantRequired]), body = Problem, content_type = PROBLEM),
        (status = 404, description = problems(&[ReasonCode::PromptNotFound, ReasonCode::VersionNotFound, ReasonCode::AttachmentNotFound]), body = Problem, content_type = PROBLEM),
        (status = 409, description = problems(&[ReasonCode::CurrentVersionMissing]), body = Problem, content_type = PROBLEM),
        (status = 413, description = problems(&[ReasonCode::InputTooLarge, ReasonCode::FieldTooLarge]), body = Problem, content_type = PROBLEM),
        (status = 503, description = problems(&[ReasonCode::ServiceUnavailable]), body = Problem, content_type = PROBLEM),
    ),
)]
pub async fn run_prompt(
    State(state): State<AppState>,
    Caller(caller): Caller,
    idem: Idempotency,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<RunQuery>,
    ApiJson(req): ApiJson<RunRequest>,
) -> AppResult<Response> {
    let auto_finalize = query_bool("autoFinalize", q.auto_finalize.as_deref())?;
    let key = headers
        .get(IDEMPOTENCY_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (tx, start) = state
        .engine()
        .start_run(&caller, &id, req, auto_finalize, key)
        .await?;
    let response = streamed(&state, &id, start.events, &start.run_id);
    idem.commit_stream(&state, tx, &start.run_id, None, response)
        .await
}

/// Revise a run
///
/// Appends a turn: the model rewrites the run's last output (or `intermediateOutput`) following
/// `instruction`, and the new output streams. `fromTurn` rewinds first. A finalized run reopens
/// and, unless `autoFinalize` says otherwise, its record follows the revision.
#[utoipa::path(
    post,
    path = "/api/v2/public/runs/{id}/revise",
    tag = "runs",
    params(("id" = String, Path, description = "The run id."), IdempotencyKey),
    request_body(content = ReviseRequest, content_type = "application/json"),
    responses(
        (status = 200, description = RUN_EVENTS, content_type = "text/event-stream"),
        (status = 400, description = problems(&[ReasonCode::StreamRequired, ReasonCode::InstructionRequired, ReasonCode::InvalidParams, ReasonCode::FromTurnInvalid, ReasonCode::FromTurnOutOfRange, ReasonCode::InvalidModelSettings]), body = Problem, content_type = PROBLEM),
        (status = 403, description = problems(&[ReasonCode::GrantRequired]), body = Problem, content_type = PROBLEM),
        (status = 404, description = problems(&[ReasonCode::RunNotFound]), body = Problem, content_type = PROBLEM),
        (status = 409, description = problems(&[ReasonCode::SessionBusy, ReasonCode::SessionNotActive, ReasonCode::SessionExpired, ReasonCode::SessionFailed, ReasonCode::SessionAbandoned, ReasonCode::RevisionChainTooLong, ReasonCode::ReopenLimitExceeded]), body = Problem, content_type = PROBLEM),
        (status = 410, description = problems(&[ReasonCode::RecordWasDeleted]), body = Problem, content_type = PROBLEM),
        (status = 413, description = problems(&[ReasonCode::IntermediateOutputTooLarge, ReasonCode::SessionDeltasTooLarge]), body = Problem, content_type = PROBLEM),
        (status = 500, description = problems(&[ReasonCode::SnapshotCorrupt]), body = Problem, content_type = PROBLEM),
        (status = 503, description = problems(&[ReasonCode::ServiceUnavailable]), body = Problem, content_type = PROBLEM),
    ),
)]
pub async fn revise_run(
    State(state): State<AppState>,
    Caller(caller): Caller,
    idem: Idempotency,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReviseRequest>,
) -> AppResult<Response> {
    let (tx, start) = state.engine().revise_run(&caller, &id, req).await?;
    let response = streamed(&state, &id, start.events, &start.run_id);
    idem.commit_stream(&state, tx, &start.run_id, None, response)
        .await
}

/// Revise a record
///
/// Rehydrates a fresh run from the record (its turns, on the record's version) and revises it;
/// the stream's `run_session` names the record in `seededFromRecordId`. Finalizing that run
/// amends the same record. One rehydrate per record at a time.
#[utoipa::path(
    post,
    path = "/api/v2/public/records/{id}/revise",
    tag = "runs",
    params(("id" = String, Path, description = "The record id."), IdempotencyKey),
    request_body(content = ReviseRequest, content_type = "application/json"),
    responses(
        (status = 200, description = RUN_EVENTS, content_type = "text/event-stream"),
        (status = 400, description = problems(&[ReasonCode::StreamRequired, ReasonCode::InstructionRequired, ReasonCode::InvalidParams, ReasonCode::FromTurnInvalid, ReasonCode::FromTurnOutOfRange, ReasonCode::InvalidModelSettings]), body = Problem, content_type = PROBLEM),
        (status = 403, description = problems(&[ReasonCode::GrantRequired]), body = Problem, content_type = PROBLEM),
        (status = 404, description = problems(&[ReasonCode::RecordNotFound, ReasonCode::VersionNotFound]), body = Problem, content_type = PROBLEM),
        (status = 409, description = problems(&[ReasonCode::RecordReviseInProgress, ReasonCode::RevisionChainTooLong]), body = Problem, content_type = PROBLEM),
        (status = 413, description = problems(&[ReasonCode::IntermediateOutputTooLarge, ReasonCode::SessionDeltasTooLarge]), body = Problem, content_type = PROBLEM),
        (status = 503, description = problems(&[ReasonCode::ServiceUnavailable]), body = Problem, content_type = PROBLEM),
    ),
)]
pub async fn revise_record(
    State(state): State<AppState>,
    Caller(caller): Caller,
    idem: Idempotency,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReviseRequest>,
) -> AppResult<Response> {
    let (tx, start) = state.engine().revise_record(&caller, &id, req).await?;
    let response = streamed(&state, &id, start.events, &start.run_id);
    // The stream's run_session names the record it was seeded from; a replay repeats it.
    idem.commit_stream(&state, tx, &start.run_id, Some(&id), response)
        .await
}

/// Finalize a run
///
/// Turns the run into a record and answers it. The body is optional: none (or `{}`) keeps the
/// model's last output; `finalText` that differs becomes an edit delta, which `tag` labels;
/// `notes` are record-level; `fromTurn` finalizes an earlier turn. On a finalized run, no fields
/// replays the answer, `notes` alone patches the record, and `finalText`/`tag`/`fromTurn` reopen
/// the run and amend the same record. The `Idempotency-Key` is scoped to the run's generation.
#[utoipa::path(
    post,
    path = "/api/v2/public/runs/{id}/finalize",
    tag = "runs",
    params(
        ("id" = String, Path, description = "The run id."),
        ("persist" = Option<String>, Query, deprecated, description = "Removed: finalize always commits. Any value is refused."),
        IdempotencyKey,
    ),
    request_body(content = Option<FinalizeRequest>, content_type = "application/json",
        description = "Optional: no body, or `{}`, is a plain finalize of the last output."),
    responses(
        (status = 200, description = "The record the run became, with its turns and cost.", body = FinalizeResponse),
        (status = 400, description = problems(&[ReasonCode::PersistQueryParamRemoved, ReasonCode::InvalidParams, ReasonCode::FromTurnInvalid, ReasonCode::FromTurnOutOfRange, ReasonCode::TagWithoutDelta]), body = Problem, content_type = PROBLEM),
        (status = 403, description = problems(&[ReasonCode::GrantRequired]), body = Problem, content_type = PROBLEM),
        (status = 404, description = problems(&[ReasonCode::RunNotFound]), body = Problem, content_type = PROBLEM),
        (status = 409, description = problems(&[ReasonCode::SessionBusy, ReasonCode::SessionNotActive, ReasonCode::SessionExpired, ReasonCode::SessionFailed, ReasonCode::SessionAbandoned, ReasonCode::ReopenLimitExceeded]), body = Problem, content_type = PROBLEM),
        (status = 410, description = problems(&[ReasonCode::RecordWasDeleted]), body = Problem, content_type = PROBLEM),
        (status = 413, description = problems(&[ReasonCode::FinalTextTooLarge, ReasonCode::NotesTooLarge, ReasonCode::TagTooLarge]), body = Problem, content_type = PROBLEM),
        (status = 500, description = problems(&[ReasonCode::SnapshotCorrupt]), body = Problem, content_type = PROBLEM),
    ),
)]
pub async fn finalize_run(
    State(state): State<AppState>,
    Caller(caller): Caller,
    idem: Idempotency,
    Path(id): Path<String>,
    Query(q): Query<RunQuery>,
    body: Bytes,
) -> AppResult<Response> {
    if q.persist.is_some() {
        return Err(AppError::new(
            ReasonCode::PersistQueryParamRemoved,
            "?persist is gone: finalize always commits. Undo with DELETE /api/v2/public/records/{id} within 24 h.",
        ));
    }
    let req: FinalizeRequest = if body.iter().all(u8::is_ascii_whitespace) {
        FinalizeRequest::default()
    } else {
        parse_json(&body)?
    };
    let (tx, finalized) = state.engine().finalize_run(&caller, &id, req).await?;
    let prompt_id = finalized.record.prompt_id.clone();
    let record_id = finalized.record_id.clone();
    idem.commit(
        &state,
        tx,
        touching(&prompt_id, Some(&record_id), StatusCode::OK, finalized),
    )
    .await
}

/// Get a run
///
/// The run's live state and turns: the polling endpoint.
#[utoipa::path(
    get,
    path = "/api/v2/public/runs/{id}",
    tag = "runs",
    params(("id" = String, Path, description = "The run id.")),
    responses(
        (status = 200, description = "The run.", body = RunResponse),
        (status = 403, description = problems(&[ReasonCode::GrantRequired]), body = Problem, content_type = PROBLEM),
        (status = 404, description = problems(&[ReasonCode::RunNotFound]), body = Problem, content_type = PROBLEM),
        (status = 500, description = problems(&[ReasonCode::SnapshotCorrupt]), body = Problem, content_type = PROBLEM),
    ),
)]
pub async fn get_run(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let run = state.engine().get_run(&caller, &id).await?;
    let prompt_id = run.prompt_id.clone();
    Ok(touching(&prompt_id, Some(&id), StatusCode::OK, run))
}

/// Cancel a run
///
/// Abandons the run without finalizing it; cancelling it again answers the same. A turn in
/// flight still runs to the end and its cost is counted, but it is not stored: its stream ends
/// with `run_failed` (`session_not_active`).
#[utoipa::path(
    delete,
    path = "/api/v2/public/runs/{id}",
    tag = "runs",
    params(("id" = String, Path, description = "The run id."), IdempotencyKey),
    responses(
        (status = 200, description = "`{runId, state: \"Abandoned\"}`.", body = RunCancelled),
        (status = 403, description = problems(&[ReasonCode::GrantRequired]), body = Problem, content_type = PROBLEM),
        (status = 404, description = problems(&[ReasonCode::RunNotFound]), body = Problem, content_type = PROBLEM),
        (status = 409, description = problems(&[ReasonCode::SessionBusy, ReasonCode::SessionNotActive, ReasonCode::RunAlreadyTerminal]), body = Problem, content_type = PROBLEM),
        (status = 500, description = problems(&[ReasonCode::SnapshotCorrupt]), body = Problem, content_type = PROBLEM),
    ),
)]
pub async fn cancel_run(
    State(state): State<AppState>,
    Caller(caller): Caller,
    idem: Idempotency,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let (tx, run, prompt_id) = state.engine().cancel_run(&caller, &id).await?;
    let body = RunCancelled {
        run_id: run.run_id,
        state: run.state,
    };
    idem.commit(
        &state,
        tx,
        touching(&prompt_id, Some(&id), StatusCode::OK, body),
    )
    .await
}

/// Get a run image
///
/// Image `n` of the run's latest turn (`run_completed.imageCount` says how many). Earlier turns'
/// images are on the record after finalize. A text run answers `no_image_stored`.
#[utoipa::path(
    get,
    path = "/api/v2/public/runs/{id}/images/{n}",
    tag = "runs",
    params(
        ("id" = String, Path, description = "The run id."),
        ("n" = u32, Path, description = "The image index, from 0 to `imageCount - 1` of `run_completed`."),
    ),
    responses(
        (status = 200, description = "The image's bytes (PNG, JPEG or WebP, as the model made it).", content_type = "image/png"),
        (status = 400, description = problems(&[ReasonCode::InvalidIndex]), body = Problem, content_type = PROBLEM),
        (status = 403, description = problems(&[ReasonCode::GrantRequired]), body = Problem, content_type = PROBLEM),
        (status = 404, description = problems(&[ReasonCode::RunNotFound, ReasonCode::NoImageStored, ReasonCode::ImageIndexOutOfRange, ReasonCode::InvalidImageReference]), body = Problem, content_type = PROBLEM),
        (status = 409, description = problems(&[ReasonCode::RunAlreadyTerminal]), body = Problem, content_type = PROBLEM),
        (status = 500, description = problems(&[ReasonCode::SnapshotCorrupt]), body = Problem, content_type = PROBLEM),
    ),
)]
pub async fn get_run_image(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path((id, n)): Path<(String, String)>,
) -> AppResult<Response> {
    let index: i64 = n.parse().map_err(|_| {
        AppError::new(
            ReasonCode::InvalidIndex,
            "The image index must be an integer ≥ 0.",
        )
        .with_param("n", "invalid_index")
    })?;
    if index < 0 {
        return Err(
            AppError::new(ReasonCode::InvalidIndex, "The image index must be ≥ 0.")
                .with_param("n", "invalid_index"),
        );
    }
    let index = usize::try_from(index).unwrap_or(usize::MAX);
    let (mime_type, bytes) = state.engine().run_image(&caller, &id, index).await?;
    Ok(super::respond::image(&mime_type, bytes))
}
