//! The gate in front of every API route, configured by the route's row in the route table:
//! rate limit (after authentication, spec "Rate limits"), scope (`scope_required`), then
//! Idempotency-Key for mutations; afterwards the audit row for mutations and the activity row for
//! every API-key request.

use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use proem_api::ReasonCode;
use proem_core::auth::Principal;
use proem_core::ids;
use proem_core::ratelimit::{Decision, RateClass};
use proem_core::store::{ActivityEntry, AuditEntry};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::idempotency;
use crate::error::AppError;
use crate::http::table::{Access, RouteDef};
use crate::state::AppState;

/// What a handler touched, for the audit and activity rows; set as a response extension.
#[derive(Debug, Clone, Default)]
pub struct Touched {
    pub prompt_id: Option<String>,
    pub object_id: Option<String>,
}

pub async fn guard(
    State((state, route)): State<(AppState, &'static RouteDef)>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let Some(principal) = req.extensions().get::<Principal>().cloned() else {
        return AppError::new(ReasonCode::KeyUnauthorized, "No API key was sent.").into_response();
    };
    let method = req.method().clone();
    let mutating = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    let (response, json_body) = gate(&state, route, &principal, mutating, req, next).await;
    let touched = response
        .extensions()
        .get::<Touched>()
        .cloned()
        .unwrap_or_default();
    let status = response.status().as_u16();
    let deferred = is_stream(&response);
    let trail = Trail {
        method: method.to_string(),
        route: format!("/api{}", route.path),
        status,
        object_id: touched.object_id.or_else(|| touched.prompt_id.clone()),
        prompt_id: touched.prompt_id,
        change: mutating.then_some(json_body),
        started,
    };
    // A run's stream starts now; its audit row follows with the background writer's next batch
    // rather than delaying the first token.
    write_trail(&state, &principal, trail, deferred).await;
    response
}

/// What one request did: its activity row, and for a change (`fields` set) its audit row.
pub(crate) struct Trail {
    pub method: String,
    pub route: String,
    pub status: u16,
    pub object_id: Option<String>,
    pub prompt_id: Option<String>,
    /// Set for a change, which is audited: the request's JSON body (`None` for a body that is
    /// not JSON), whose fields the audit row describes by presence, length and hash prefix.
    pub change: Option<Option<Bytes>>,
    pub started: Instant,
}

/// Writes a request's audit row (inline, or with `defer_audit` by the background writer) and
/// hands its activity row to the batched writer. REST and MCP both record through here.
pub(crate) async fn write_trail(
    state: &AppState,
    principal: &Principal,
    t: Trail,
    defer_audit: bool,
) {
    let now = state.store().now_ms();
    if let Some(json_body) = t.change {
        let mut entry = AuditEntry {
            id: ids::new_id("aud"),
            at: now,
            user_id: principal.user_id().to_owned(),
            key_id: Some(principal.key_id().to_owned()),
            method: t.method.clone(),
            route: t.route.clone(),
            object_id: t.object_id,
            status: t.status,
            fields: String::new(),
        };
        if defer_audit {
            state.activity().audit(entry, json_body);
        } else {
            entry.fields = describe_fields(json_body.as_ref()).to_string();
            if let Err(e) = state.store().write_audit(&entry).await {
                tracing::error!(error = %e, "cannot write an audit row");
            }
        }
    }
    state.activity().record(ActivityEntry {
        id: ids::new_id("act"),
        at: now,
        user_id: principal.user_id().to_owned(),
        key_id: principal.key_id().to_owned(),
        method: t.method,
        route: t.route,
        status: t.status,
        latency_us: i64::try_from(t.started.elapsed().as_micros()).unwrap_or(i64::MAX),
        prompt_id: t.prompt_id,
    });
}

/// Everything between authentication and the handler; returns the response and, for JSON
/// mutations, the buffered body (for the audit row).
async fn gate(
    state: &AppState,
    route: &'static RouteDef,
    principal: &Principal,
    mutating: bool,
    req: Request,
    next: Next,
) -> (Response, Option<Bytes>) {
    let class = match route.access {
        Access::Key(permission) => RateClass::of(permission.scope()),
        Access::SessionOnly => RateClass::Read,
    };
    let limits = state.config().rate_limits.limits(class);
    let decision = match state
        .store()
        .take_rate_slot(principal.key_id(), principal.user_id(), limits)
        .await
    {
        Ok(d) => d,
        Err(e) => return (AppError::from(e).into_response(), None),
    };
    let mut outcome = if decision.allowed {
        admitted(state, route, principal, mutating, req, next).await
    } else {
        (
            rate_limited(&decision, state.store().now_ms()).into_response(),
            None,
        )
    };
    rate_headers(outcome.0.headers_mut(), &decision, state.store().now_ms());
    outcome
}

async fn admitted(
    state: &AppState,
    route: &'static RouteDef,
    principal: &Principal,
    mutating: bool,
    req: Request,
    next: Next,
) -> (Response, Option<Bytes>) {
    match route.access {
        Access::SessionOnly => {
            return (
                AppError::new(
                    ReasonCode::ApiKeyNotPermitted,
                    "This endpoint needs a signed-in web session; API keys cannot call it.",
                )
                .into_response(),
                None,
            );
        }
        Access::Key(permission) => {
            if !permission.is_granted_by(&principal.key.scopes) {
                return (
                    AppError::new(
                        ReasonCode::ScopeRequired,
                        format!(
                            "This route needs the `{}` scope (or `{}`); the key has {:?}.",
                            permission.scope(),
                            permission.resource_scope(),
                            principal.key.scopes
                        ),
                    )
                    .into_response(),
                    None,
                );
            }
        }
    }
    if !mutating {
        return (next.run(req).await, None);
    }
    let key = match idempotency::key_of(req.headers()) {
        Ok(k) => k,
        Err(e) => return (e.into_response(), None),
    };
    let json_body = is_json(req.headers());
    if key.is_none() && !json_body {
        return (next.run(req).await, None);
    }
    // Buffer the body: the idempotency hash and the audit metadata both need it.
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, state.config().http.body_limit_bytes).await {
        Ok(b) => b,
        Err(_) => {
            return (
                AppError::new(
                    ReasonCode::RequestTooLarge,
                    "The request body is larger than the server accepts.",
                )
                .into_response(),
                None,
            );
        }
    };
    let audited = json_body.then(|| bytes.clone());
    let req = Request::from_parts(parts, Body::from(bytes.clone()));
    let response = match key {
        Some(key) => {
            idempotency::run(state, principal, route.idempotency, key, req, bytes, next).await
        }
        None => next.run(req).await,
    };
    (response, audited)
}

fn is_stream(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"))
}

/// The audit row's `fields`: [`field_metadata`] of a JSON body, nothing for any other.
pub(crate) fn describe_fields(json_body: Option<&Bytes>) -> Value {
    Value::Object(json_body.map(field_metadata).unwrap_or_default())
}

/// For each top-level field: presence, length and a SHA-256 prefix; never the content.
pub(crate) fn field_metadata(body: &Bytes) -> Map<String, Value> {
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(body) else {
        return Map::from_iter([("body".to_owned(), describe(&String::from_utf8_lossy(body)))]);
    };
    object
        .into_iter()
        .map(|(name, value)| {
            let meta = match &value {
                Value::Null => json!({"present": true, "null": true}),
                Value::String(s) => describe(s),
                other => describe(&other.to_string()),
            };
            (name, meta)
        })
        .collect()
}

fn describe(content: &str) -> Value {
    let digest = Sha256::digest(content.as_bytes());
    json!({
        "present": true,
        "length": content.chars().count(),
        "sha256Prefix": proem_core::keys::KeyHash(digest.into()).to_hex()[..12].to_owned(),
    })
}

fn rate_limited(decision: &Decision, now_ms: i64) -> AppError {
    let refusal = decision.refusal(now_ms).unwrap_or_else(|| {
        proem_core::Rejection::new(ReasonCode::RateLimited, "The rate-limit bucket is full.")
    });
    let mut e = AppError::from(refusal);
    if let Ok(v) = HeaderValue::from_str(&decision.retry_after_secs(now_ms).to_string()) {
        e = e.with_header(header::RETRY_AFTER, v);
    }
    e
}

/// `X-RateLimit-*` (the key bucket is the most restrictive for key callers) and the IETF
/// `RateLimit-Policy` / `RateLimit` pair describing both buckets.
fn rate_headers(headers: &mut HeaderMap, d: &Decision, now_ms: i64) {
    let reset_secs = d.reset_at_ms / 1000;
    let delta = d.retry_after_secs(now_ms);
    let limits = d.limits;
    let pairs = [
        ("x-ratelimit-limit", limits.per_key.to_string()),
        ("x-ratelimit-remaining", d.key_remaining.to_string()),
        ("x-ratelimit-reset", reset_secs.to_string()),
        (
            "x-ratelimit-bucket",
            format!(
                "key={}/{},user={}/{}",
                d.key_remaining, limits.per_key, d.user_remaining, limits.per_user
            ),
        ),
        (
            "ratelimit-policy",
            format!(
                "\"key\";q={};w=60, \"user\";q={};w=60",
                limits.per_key, limits.per_user
            ),
        ),
        (
            "ratelimit",
            format!(
                "\"key\";r={};t={delta}, \"user\";r={};t={delta}",
                d.key_remaining, d.user_remaining
            ),
        ),
    ];
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
}
