//! Idempotency-Key on mutating requests (spec "Idempotency"). The first request with a key claims
//! it; a retry with the same route and body replays the stored response byte for byte with
//! `Idempotent-Replayed: true`; a different route or body is `idempotency_key_reused`; a retry while
//! the original runs is `idempotency_in_flight`. Handlers complete the claim inside their own
//! transaction ([`Idempotency::commit`]) so the mutation and the stored response land together.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, OriginalUri, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use proem_api::{Problem, ReasonCode};
use proem_core::auth::Principal;
use proem_core::runs::ReplaySnapshot;
use proem_core::store::{Begin, IdemKey, StoredResponse};
use sha2::{Digest, Sha256};

use crate::context;
use crate::error::{AppError, AppResult};
use crate::http::table::IdemScope;
use crate::state::AppState;

pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Content type of a stored streamed-run outcome (a [`ReplaySnapshot`]); its replay is a
/// `run_session` + `run_replayed` stream built from it.
const STREAM_MARKER: &str = "text/event-stream";
pub const REPLAYED: &str = "idempotent-replayed";
/// Headers a replay repeats; per-request ones (request id, rate limits) are fresh on every answer.
const REPLAYED_HEADERS: &[&str] = &["content-type", "location", "etag"];

/// The claim a handler completes. Absent when the request carried no Idempotency-Key.
#[derive(Debug, Clone)]
pub struct Claim {
    user_id: String,
    key: String,
}

/// Marks a response whose claim was completed in the handler's transaction.
#[derive(Debug, Clone, Copy)]
struct Completed;

/// Extractor for handlers: commit the mutation and the idempotent response together.
pub struct Idempotency(Option<Claim>);

impl<S: Send + Sync> FromRequestParts<S> for Idempotency {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Idempotency(parts.extensions.get::<Claim>().cloned()))
    }
}

impl Idempotency {
    /// For a streamed run: stores the turn it started, as a [`ReplaySnapshot`], as the claim's
    /// outcome on `tx` and commits. A retry then replays that snapshot (`run_session`, then
    /// `run_replayed`) instead of starting the run again. `seeded_from` is the record the
    /// stream's `run_session` names (a record revise).
    pub async fn commit_stream(
        self,
        state: &AppState,
        mut tx: proem_core::txn::Txn,
        run_id: &str,
        seeded_from: Option<&str>,
        mut response: Response,
    ) -> AppResult<Response> {
        if let Some(claim) = self.0 {
            // The run's writes must commit with the outcome (start_run opens a transaction
            // whenever it is given the key).
            debug_assert!(tx.is_atomic(), "an idempotent run outside a transaction");
            let snapshot = state
                .engine()
                .replay_snapshot(&mut tx, run_id, seeded_from)
                .await?;
            let stored = StoredResponse {
                status: 200,
                headers: vec![("content-type".to_owned(), STREAM_MARKER.to_owned())],
                body: serde_json::to_vec(&snapshot).map_err(|_| {
                    AppError::new(ReasonCode::InternalError, "The run could not be recorded.")
                })?,
            };
            state
                .store()
                .idempotency_complete(&mut tx, &claim.user_id, &claim.key, &stored)
                .await?;
            response.extensions_mut().insert(Completed);
        }
        tx.commit().await?;
        Ok(response)
    }

    /// Stores `response` as the claim's outcome on `tx`, commits, and returns the response.
    pub async fn commit(
        self,
        state: &AppState,
        mut tx: proem_core::txn::Txn,
        response: impl IntoResponse,
    ) -> AppResult<Response> {
        let response = response.into_response();
        let Some(claim) = self.0 else {
            tx.commit().await?;
            return Ok(response);
        };
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.map_err(|_| {
            AppError::new(
                ReasonCode::InternalError,
                "The response could not be buffered.",
            )
        })?;
        let stored = stored(parts.status, &parts.headers, &bytes);
        state
            .store()
            .idempotency_complete(&mut tx, &claim.user_id, &claim.key, &stored)
            .await?;
        tx.commit().await?;
        let mut response = Response::from_parts(parts, Body::from(bytes));
        response.extensions_mut().insert(Completed);
        Ok(response)
    }
}

fn stored(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> StoredResponse {
    StoredResponse {
        status: status.as_u16(),
        headers: REPLAYED_HEADERS
            .iter()
            .filter_map(|name| {
                headers
                    .get(*name)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| ((*name).to_owned(), v.to_owned()))
            })
            .collect(),
        body: body.to_vec(),
    }
}

/// The Idempotency-Key of a request: none, or one valid value (1–255 visible ASCII, no commas,
/// sent once); anything else is `idempotency_key_invalid`.
pub fn key_of(headers: &HeaderMap) -> AppResult<Option<String>> {
    let mut values = headers.get_all(IDEMPOTENCY_KEY).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let invalid = |why: &str| {
        AppError::new(
            ReasonCode::IdempotencyKeyInvalid,
            format!("Idempotency-Key {why}."),
        )
        .with_param("Idempotency-Key", "invalid")
    };
    if values.next().is_some() {
        return Err(invalid("was sent more than once"));
    }
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > 255 {
        return Err(invalid("must be 1 to 255 characters"));
    }
    if !bytes.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(invalid("must be visible ASCII (0x21-0x7E)"));
    }
    if bytes.contains(&b',') {
        return Err(invalid("must not contain commas"));
    }
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

/// Runs a mutating request under its Idempotency-Key. `body` is the already-buffered body.
/// The run id in a `/runs/{id}/…` path.
fn run_id_of(path: &str) -> Option<&str> {
    let mut segments = path.split('/');
    segments.by_ref().find(|s| *s == "runs")?;
    segments.next()
}

pub async fn run(
    state: &AppState,
    principal: &Principal,
    scope: IdemScope,
    mut key: String,
    req: Request,
    body: Bytes,
    next: Next,
) -> Response {
    // The URI as the client sent it: inside the nested `/api` router `req.uri()` lacks `/api`.
    let uri = req
        .extensions()
        .get::<OriginalUri>()
        .map_or(req.uri(), |o| &o.0);
    let mut route = format!(
        "{} {}",
        req.method(),
        uri.path_and_query().map_or(uri.path(), |p| p.as_str())
    );
    let run_id = run_id_of(uri.path()).map(str::to_owned);
    if scope == IdemScope::PerGeneration
        && let Some(run_id) = &run_id
        && let Ok(Some(generation)) = state.engine().finalize_scope(principal, run_id).await
    {
        // Each generation of a run is a fresh idempotency boundary: a reopen may finalize again.
        key = format!("{key}@gen{generation}");
        route = format!("{route}@gen{generation}");
    }
    let mut hasher = Sha256::new();
    hasher.update(route.as_bytes());
    hasher.update([0]);
    hasher.update(&body);
    let request_hash = proem_core::keys::KeyHash(hasher.finalize().into()).to_hex();
    let idem = IdemKey {
        user_id: principal.user_id(),
        key: &key,
        route: &route,
        request_hash: &request_hash,
    };
    // A claim older than two request deadlines belongs to a process that died.
    let lease_ms = i64::try_from(
        state
            .config()
            .http
            .request_timeout_secs
            .saturating_mul(2_000),
    )
    .unwrap_or(i64::MAX);
    let unknown = outcome_unknown_body(&route);
    let begin = match state
        .store()
        .idempotency_begin(idem, lease_ms, &unknown)
        .await
    {
        Ok(b) => b,
        Err(e) => return AppError::from(e).into_response(),
    };
    match begin {
        Begin::Owner => {}
        Begin::Replay(stored) => {
            if scope == IdemScope::PerGeneration
                && let Some(run_id) = &run_id
                && let Err(e) = state
                    .engine()
                    .check_finalize_replay(principal, run_id)
                    .await
            {
                return AppError::from(e).into_response();
            }
            if stored
                .headers
                .iter()
                .any(|(n, v)| n == "content-type" && v == STREAM_MARKER)
            {
                return replay_stream(state, principal, &stored.body).await;
            }
            return replay(stored);
        }
        Begin::Reused => {
            return AppError::new(
                ReasonCode::IdempotencyKeyReused,
                "This Idempotency-Key was used for a different request.",
            )
            .into_response();
        }
        Begin::InFlight => {
            return AppError::new(
                ReasonCode::IdempotencyInFlight,
                "The original request with this Idempotency-Key is still running.",
            )
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
            .into_response();
        }
    }
    let claim = Claim {
        user_id: principal.user_id().to_owned(),
        key,
    };
    let (mut parts, _) = req.into_parts();
    parts.extensions.insert(claim.clone());
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    if response.extensions().get::<Completed>().is_some() {
        return response;
    }
    if response.status().is_success() {
        // A handler that did not complete in its transaction: store the outcome now.
        let (parts, body) = response.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
            return AppError::new(
                ReasonCode::InternalError,
                "The response could not be buffered.",
            )
            .into_response();
        };
        let stored = stored(parts.status, &parts.headers, &bytes);
        let completed = async {
            let mut conn = state.store().write_connection().await?;
            state
                .store()
                .idempotency_complete(&mut conn, &claim.user_id, &claim.key, &stored)
                .await
        };
        if let Err(e) = completed.await {
            tracing::error!(error = %e, "cannot store an idempotent response");
        }
        return Response::from_parts(parts, Body::from(bytes));
    }
    // The request failed and changed nothing: free the key so a corrected retry can use it.
    if let Err(e) = state
        .store()
        .idempotency_release(&claim.user_id, &claim.key)
        .await
    {
        tracing::error!(error = %e, "cannot release an idempotency claim");
    }
    response
}

/// A retried run or revise: `run_session` and `run_replayed`, then the end of the stream. Built
/// from the stored snapshot alone, so every retry answers the same bytes; a claim stored before
/// snapshots (only `{"runId"}`) falls back to the run's live state.
async fn replay_stream(state: &AppState, principal: &Principal, body: &[u8]) -> Response {
    let events = match serde_json::from_slice::<ReplaySnapshot>(body) {
        Ok(snapshot) => snapshot.events().to_vec(),
        Err(_) => {
            let run_id = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v["runId"].as_str().map(str::to_owned))
                .unwrap_or_default();
            match state
                .engine()
                .replayed_events_live(principal, &run_id)
                .await
            {
                Ok(events) => events,
                Err(e) => return AppError::from(e).into_response(),
            }
        }
    };
    // `sse` frames one event per response: the replay chains their bodies under the first's
    // headers, so its frames are written exactly as a live stream's.
    let mut head = None;
    let mut frames = Vec::with_capacity(events.len());
    for event in events {
        let (parts, body) = crate::http::sse::one_event(event).into_parts();
        head.get_or_insert(parts);
        frames.push(body.into_data_stream());
    }
    let Some(mut head) = head else {
        return AppError::new(ReasonCode::InternalError, "The replay has no events.")
            .into_response();
    };
    head.headers
        .insert(REPLAYED, HeaderValue::from_static("true"));
    Response::from_parts(
        head,
        Body::from_stream(futures::stream::iter(frames).flatten()),
    )
}

fn replay(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, stored.body).into_response();
    let headers = response.headers_mut();
    for (name, value) in &stored.headers {
        if let (Ok(name), Ok(value)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

/// The body replayed for a claim whose process died (spec "Recovery from
/// idempotency_outcome_unknown").
fn outcome_unknown_body(route: &str) -> Vec<u8> {
    let code = ReasonCode::IdempotencyOutcomeUnknown;
    let mut problem = Problem::new(
        &context::public_url(),
        code,
        format!(
            "The original request ({route}) died mid-flight. The change may or may not have landed: verify with a GET before any retry. Replaying this Idempotency-Key returns this body until it expires 24 h after the failure; a new key may duplicate the original mutation."
        ),
        &*context::request_id(),
    );
    problem.invalid_params.clear();
    serde_json::to_vec(&problem).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(values: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(IDEMPOTENCY_KEY, HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    #[test]
    fn valid_keys_are_accepted() {
        assert_eq!(key_of(&with(&[])).unwrap(), None);
        assert_eq!(key_of(&with(&[b"a"])).unwrap().as_deref(), Some("a"));
        let longest = "k".repeat(255);
        assert_eq!(key_of(&with(&[longest.as_bytes()])).unwrap(), Some(longest));
    }

    #[test]
    fn idempotency_key_invalid_for_each_header_rule() {
        let too_long = "k".repeat(256);
        for bad in [
            with(&[b"a", b"b"]),
            with(&[too_long.as_bytes()]),
            with(&[b"a,b"]),
            with(&[b"has space"]),
            with(&[b"tab\there"]),
            with(&[b"\xc3\xa9"]),
        ] {
            assert_eq!(
                key_of(&bad).unwrap_err().code(),
                ReasonCode::IdempotencyKeyInvalid
            );
        }
    }
}
