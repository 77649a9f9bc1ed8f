//! Runs: `POST /prompts/{id}/run`, `POST /runs/{runId}/revise`, `POST /records/{id}/revise` (all
//! SSE), `POST /runs/{runId}/finalize`, `GET /runs/{runId}`, `DELETE /runs/{runId}`.
//! Problems are HTTP errors only until the stream starts; after that, failures are events.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use proem_api::ReasonCode;
use proem_api::records::{FinalizeRequest, ReviseRequest, RunRequest};
use serde::Deserialize;

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
    prompt_id: &str,
    rx: tokio::sync::mpsc::UnboundedReceiver<proem_core::runs::RunEvent>,
    run_id: &str,
) -> Response {
    let mut response = sse::stream(rx);
    response.extensions_mut().insert(Touched {
        prompt_id: Some(prompt_id.to_owned()),
        object_id: Some(run_id.to_owned()),
    });
    response
}

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
    let response = streamed(&id, start.events, &start.run_id);
    idem.commit_stream(&state, tx, &start.run_id, response)
        .await
}

pub async fn revise_run(
    State(state): State<AppState>,
    Caller(caller): Caller,
    idem: Idempotency,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReviseRequest>,
) -> AppResult<Response> {
    let (tx, start) = state.engine().revise_run(&caller, &id, req).await?;
    let response = streamed(&id, start.events, &start.run_id);
    idem.commit_stream(&state, tx, &start.run_id, response)
        .await
}

pub async fn revise_record(
    State(state): State<AppState>,
    Caller(caller): Caller,
    idem: Idempotency,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ReviseRequest>,
) -> AppResult<Response> {
    let (tx, start) = state.engine().revise_record(&caller, &id, req).await?;
    let response = streamed(&id, start.events, &start.run_id);
    idem.commit_stream(&state, tx, &start.run_id, response)
        .await
}

/// Finalize takes an optional body: none (or `{}`) is a plain finalize.
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

pub async fn get_run(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let run = state.engine().get_run(&caller, &id).await?;
    let prompt_id = run.prompt_id.clone();
    Ok(touching(&prompt_id, Some(&id), StatusCode::OK, run))
}

pub async fn cancel_run(
    State(state): State<AppState>,
    Caller(caller): Caller,
    idem: Idempotency,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let (tx, run, prompt_id) = state.engine().cancel_run(&caller, &id).await?;
    let body = proem_api::records::RunCancelled {
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

/// `GET /runs/{runId}/images/{n}`: image-output runs are not built yet, so no run holds images.
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
    let run = state.engine().get_run(&caller, &id).await?;
    if run.state == "Abandoned" {
        return Err(AppError::new(
            ReasonCode::RunAlreadyTerminal,
            "The run was abandoned.",
        ));
    }
    Err(AppError::new(
        ReasonCode::NoImageStored,
        "This run produced no images: it is a text run.",
    ))
}
