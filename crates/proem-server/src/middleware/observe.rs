//! The outermost layer: gives each request its id (`X-Request-Id`, also in every problem
//! document), counts it in the metrics by route template, and logs one line per request without
//! bodies, queries or credentials.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use proem_core::ids;

use crate::context::{self, RequestContext};
use crate::state::AppState;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

pub async fn observe(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id: Arc<str> = Arc::from(ids::new_id(ids::REQUEST));
    req.extensions_mut()
        .insert(context::RequestId(request_id.clone()));
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let ctx = RequestContext {
        request_id: request_id.clone(),
        public_url: state.public_url().clone(),
    };
    let mut response = context::scope(ctx, next.run(req)).await;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    // The matched path is only known inside the router; handlers below record it as an extension.
    let route = response
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .or(route)
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = response.status().as_u16();
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    state
        .metrics()
        .record(method.as_str(), &route, status, micros);
    tracing::info!(
        request.id = %request_id,
        http.method = %method,
        http.route = %route,
        http.status = status,
        latency_us = micros,
        "request"
    );
    response
}
