//! Open operational routes: liveness, readiness and Prometheus metrics.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use proem_api::ReasonCode;

use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// Liveness
///
/// The process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "service",
    responses((status = 200, description = "`ok`", body = String, content_type = "text/plain")),
)]
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness
///
/// The database answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "service",
    responses(
        (status = 200, description = "`ready`", body = String, content_type = "text/plain"),
        (status = 503, description = super::openapi::problems(&[ReasonCode::ServiceUnavailable]),
            body = proem_api::Problem, content_type = super::openapi::PROBLEM),
    ),
)]
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

/// Metrics
///
/// Prometheus counters by route and status.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "service",
    responses((status = 200, description = "Prometheus text exposition format.", body = String,
        content_type = "text/plain; version=0.0.4")),
)]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics().render(),
    )
}
