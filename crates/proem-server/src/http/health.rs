//! Open operational routes: liveness, readiness and Prometheus metrics.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use proem_api::ReasonCode;

use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// The process is up.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// The database answers.
pub async fn readyz(State(state): State<AppState>) -> AppResult<&'static str> {
    state.store().ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        AppError::new(
            ReasonCode::ServiceUnavailable,
            "The database is unreachable.",
        )
    })?;
    Ok("ready\n")
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics().render(),
    )
}
