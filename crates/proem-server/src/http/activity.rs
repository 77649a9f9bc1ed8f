//! API-key activity: `GET /api/settings/api-keys/activity` (filterable, cursor-paginated) and
//! `GET /api/settings/api-keys/activity/stats`.

use axum::Json;
use axum::extract::{Query, State};
use proem_api::ReasonCode;
use proem_api::problem::Problem;
use proem_core::clock::to_utc_string;
use proem_core::store::ActivityFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::openapi::{PROBLEM, PageParams, problems};
use crate::error::{AppError, AppResult};
use crate::extract::{Caller, PageQuery};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ActivityQuery {
    /// Only this key's requests, `key_…`.
    key_id: Option<String>,
    /// Only this HTTP method (any case).
    method: Option<String>,
    /// Only this HTTP status.
    #[param(value_type = Option<u16>)]
    status: Option<String>,
    /// Only requests that touched this prompt.
    prompt_id: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    page: PageQuery,
}

/// One request made with one of the caller's keys.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActivityItem {
    id: String,
    key_id: String,
    method: String,
    /// The matched route template, e.g. `/api/v2/public/prompts/{id}`.
    route: String,
    status: u16,
    latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_id: Option<String>,
    at_utc: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Present only when more pages exist (spec "Cursor pagination").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// List key activity
///
/// The requests made with the caller's API keys, newest first, filterable.
#[utoipa::path(
    get,
    path = "/api/settings/api-keys/activity",
    tag = "activity",
    params(ActivityQuery, PageParams),
    responses(
        (status = 200, description = "A page of requests.", body = Page<ActivityItem>),
        (status = 400, description = problems(&[ReasonCode::ParamOutOfRange, ReasonCode::InvalidParams, ReasonCode::InvalidCursor, ReasonCode::CursorFilterMismatch]), body = Problem, content_type = PROBLEM),
    ),
)]
pub async fn list_activity(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(q): Query<ActivityQuery>,
) -> AppResult<Json<Page<ActivityItem>>> {
    let limit = q.page.limit()?;
    let status = q
        .status
        .as_deref()
        .map(|s| {
            s.parse::<u16>().map_err(|_| {
                AppError::new(
                    ReasonCode::InvalidParams,
                    format!("status must be an HTTP status; got `{s}`."),
                )
                .with_param("status", "invalid_type")
            })
        })
        .transpose()?;
    let filter = ActivityFilter {
        key_id: q.key_id,
        method: q.method.map(|m| m.to_ascii_uppercase()),
        status,
        prompt_id: q.prompt_id,
    };
    let filters = format!(
        "activity|{}|{}|{}|{}",
        filter.key_id.as_deref().unwrap_or(""),
        filter.method.as_deref().unwrap_or(""),
        filter.status.map(|s| s.to_string()).unwrap_or_default(),
        filter.prompt_id.as_deref().unwrap_or("")
    );
    let after = q
        .page
        .cursor
        .as_deref()
        .map(|c| state.cursors().decode(c, caller.user_id(), &filters))
        .transpose()?;
    let mut rows = state
        .store()
        .list_activity(caller.user_id(), &filter, after.as_deref(), limit + 1)
        .await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = more
        .then(|| {
            rows.last()
                .map(|r| state.cursors().encode(caller.user_id(), &filters, &r.id))
        })
        .flatten();
    let items = rows
        .into_iter()
        .map(|r| ActivityItem {
            id: r.id,
            key_id: r.key_id,
            method: r.method,
            route: r.route,
            status: r.status,
            latency_ms: r.latency_us as f64 / 1000.0,
            prompt_id: r.prompt_id,
            at_utc: to_utc_string(r.at),
        })
        .collect();
    Ok(Json(Page { items, next_cursor }))
}

/// Counts over the caller's keys; "today" is the current UTC day.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActivityStatsResponse {
    total_requests: i64,
    today_requests: i64,
    active_keys: i64,
    average_response_ms: f64,
}

/// Key activity counts
#[utoipa::path(
    get,
    path = "/api/settings/api-keys/activity/stats",
    tag = "activity",
    responses((status = 200, description = "The counts.", body = ActivityStatsResponse)),
)]
pub async fn activity_stats(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> AppResult<Json<ActivityStatsResponse>> {
    let now = state.store().now_ms();
    let day_start = now - now.rem_euclid(86_400_000);
    let stats = state
        .store()
        .activity_stats(caller.user_id(), day_start)
        .await?;
    Ok(Json(ActivityStatsResponse {
        total_requests: stats.total,
        today_requests: stats.today,
        active_keys: stats.active_keys,
        average_response_ms: stats.average_response_ms,
    }))
}
