//! Records: `GET /records` (filters, truncation), `GET /records/{id}`, `PATCH /records/{id}`
//! (merge patch), `DELETE /records/{id}` (creating key, 24 h), `POST /records` (manual),
//! `GET /records/{id}/image`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use proem_api::ReasonCode;
use proem_api::records::CreateRecordRequest;
use proem_core::records::{RecordPatch, RecordQuery};
use serde::Deserialize;

use super::respond::{created, touching};
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

pub async fn get_record(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let record = state.engine().get_record(&caller, &id).await?;
    let prompt_id = record.prompt_id.clone();
    Ok(touching(&prompt_id, Some(&id), StatusCode::OK, record))
}

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

/// `GET /records/{id}/image?index=N`: image-output runs are not built yet, so records hold no
/// images; the index is still validated first.
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
    state.engine().get_record(&caller, &id).await?;
    Err(AppError::new(
        ReasonCode::NoImageStored,
        "This record has no stored images: it is a text record.",
    ))
}
