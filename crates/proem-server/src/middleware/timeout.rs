//! Per-request deadline. It bounds the time to the response head only, so a streamed body (SSE)
//! is never cut by it.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use proem_api::ReasonCode;

use crate::error::AppError;
use crate::state::AppState;

pub async fn timeout(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limit = Duration::from_secs(state.config().http.request_timeout_secs);
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => AppError::new(
            ReasonCode::RequestTimeout,
            format!("The request did not complete within {} s.", limit.as_secs()),
        )
        .into_response(),
    }
}
