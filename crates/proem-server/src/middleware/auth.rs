//! Authentication for everything under `/api`: deny by default. The key arrives in `X-API-Key`
//! or `Authorization: Bearer`; both present and different is `mixed_credentials_key_mismatch`.
//! On success the [`Principal`] is put in the request extensions for the layers and handlers below.

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use proem_api::ReasonCode;

use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub const API_KEY_HEADER: &str = "x-api-key";

pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let principal = match presented_key(req.headers()) {
        Ok(Some(key)) => state.auth().authenticate(state.store(), &key).await,
        Ok(None) => Err(proem_core::Error::rejected(
            ReasonCode::KeyUnauthorized,
            "No API key was sent.",
        )),
        Err(e) => return e.into_response(),
    };
    match principal {
        Ok(principal) => {
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Err(e) => AppError::from(e).into_response(),
    }
}

/// The key the caller presented, if any.
fn presented_key(headers: &HeaderMap) -> AppResult<Option<String>> {
    let from_header = headers
        .get(API_KEY_HEADER)
        .map(|v| v.to_str().map(str::trim).unwrap_or_default().to_owned());
    let from_bearer = headers.get(AUTHORIZATION).map(|v| {
        let v = v.to_str().unwrap_or_default().trim();
        match v.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                token.trim().to_owned()
            }
            _ => String::new(),
        }
    });
    match (from_header, from_bearer) {
        (Some(a), Some(b)) if a != b => Err(AppError::new(
            ReasonCode::MixedCredentialsKeyMismatch,
            "X-API-Key and Authorization: Bearer carry different keys.",
        )),
        (Some(a), _) => Ok(Some(a)),
        (None, b) => Ok(b),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn bearer_and_header_forms_are_both_read() {
        assert_eq!(
            presented_key(&headers(&[("x-api-key", "pmk_a")]))
                .unwrap()
                .as_deref(),
            Some("pmk_a")
        );
        assert_eq!(
            presented_key(&headers(&[("authorization", "bearer pmk_b")]))
                .unwrap()
                .as_deref(),
            Some("pmk_b")
        );
        assert_eq!(presented_key(&headers(&[])).unwrap(), None);
    }

    #[test]
    fn same_key_in_both_headers_is_accepted() {
        let h = headers(&[("x-api-key", "pmk_a"), ("authorization", "Bearer pmk_a")]);
        assert_eq!(presented_key(&h).unwrap().as_deref(), Some("pmk_a"));
    }

    #[test]
    fn different_keys_in_both_headers_are_mixed_credentials() {
        let h = headers(&[("x-api-key", "pmk_a"), ("authorization", "Bearer pmk_b")]);
        assert_eq!(
            presented_key(&h).unwrap_err().code(),
            ReasonCode::MixedCredentialsKeyMismatch
        );
    }
}
