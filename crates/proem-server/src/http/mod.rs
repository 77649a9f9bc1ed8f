//! The router: open routes (health, metrics, problem pages, the API reference) and everything under `/api`, which is
//! authenticated by default. Unknown routes and methods answer problem+json too.

mod activity;
mod attachments;
mod grants;
mod health;
mod mcp_tools;
mod me;
mod models;
mod openapi;
mod problems;
mod prompts;
mod records;
mod respond;
pub mod routes;
mod runs;
mod settings;
pub(crate) mod sse;
pub mod table;
mod versions;

use axum::Router;
use axum::extract::{MatchedPath, OriginalUri, Request};
use axum::http::Method;
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use proem_api::ReasonCode;
use tower_http::catch_panic::CatchPanicLayer;

use crate::error::AppError;
use crate::middleware::{auth, observe, timeout};
use crate::state::AppState;

/// The whole application.
pub fn router(state: AppState) -> Router {
    let open = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/docs", get(openapi::docs_page))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/problems/{reason_code}", get(problems::problem_page))
        .merge(crate::mcp::open_routes());

    let api = table::api_router(&state, routes::ROUTES)
        .fallback(route_not_found)
        .layer(from_fn_with_state(state.clone(), auth::authenticate));

    Router::new()
        .merge(open)
        .nest("/api", api)
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(from_fn(tag_route))
        .layer(from_fn_with_state(state.clone(), timeout::timeout))
        // After the deadline layer: a tool call lasts as long as its run.
        .merge(crate::mcp::router(&state))
        .layer(axum::extract::DefaultBodyLimit::max(
            state.config().http.body_limit_bytes,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("handler panicked");
            AppError::new(
                ReasonCode::InternalError,
                "An unexpected error occurred on the server.",
            )
            .into_response()
        }))
        .layer(from_fn_with_state(state.clone(), observe::observe))
        .with_state(state)
}

/// Copies the matched route template onto the response, for the metrics in the outer layer.
pub(crate) async fn tag_route(req: Request, next: Next) -> Response {
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(req).await;
    if let Some(m) = matched {
        response.extensions_mut().insert(m);
    }
    response
}

async fn route_not_found(method: Method, OriginalUri(uri): OriginalUri) -> AppError {
    AppError::new(
        ReasonCode::RouteNotFound,
        format!("No route {method} {}.", uri.path()),
    )
}

async fn method_not_allowed(method: Method, OriginalUri(uri): OriginalUri) -> AppError {
    AppError::new(
        ReasonCode::MethodNotAllowed,
        format!("{} does not accept {method}.", uri.path()),
    )
}
