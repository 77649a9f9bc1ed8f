//! Extractors that turn request parts into typed values or problem documents: the caller, JSON
//! and merge-patch bodies, `If-Match`, list paging. Every refusal is a problem+json with the
//! spec's reason code and the field at fault.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{CONTENT_TYPE, IF_MATCH};
use axum::http::request::Parts;
use proem_api::ReasonCode;
use proem_core::auth::Principal;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// The authenticated caller; present on every route under `/api`.
pub struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Caller)
            .ok_or_else(|| AppError::new(ReasonCode::KeyUnauthorized, "No API key was sent."))
    }
}

/// Fields the server owns; a request body that sets one is refused rather than silently ignored.
const SERVER_OWNED: &[&str] = &[
    "id",
    "userId",
    "ownerId",
    "createdAt",
    "createdAtUtc",
    "updatedAt",
    "updatedAtUtc",
    "deletedAtUtc",
    "versionNumber",
    "revisionCount",
    "editCount",
    "costMilliCents",
];

/// A JSON body (`application/json`, or `application/merge-patch+json` for PATCH).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if content_type != "application/json" && content_type != "application/merge-patch+json" {
            return Err(AppError::new(
                ReasonCode::UnsupportedMediaType,
                format!("Expected Content-Type application/json; got `{content_type}`."),
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::new(
                        ReasonCode::RequestTooLarge,
                        "The request body is larger than the server accepts.",
                    )
                } else {
                    AppError::new(
                        ReasonCode::InvalidRequest,
                        "The request body could not be read.",
                    )
                }
            })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses a JSON body into `T`, naming the field at fault on failure.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        AppError::new(
            ReasonCode::InvalidRequest,
            format!("The body is not valid JSON: {e}."),
        )
        .with_param("body", "invalid_json")
    })?;
    parse_value(value)
}

/// [`parse_json`] on an already parsed value (e.g. MCP tool arguments).
pub fn parse_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, AppError> {
    if let Some(object) = value.as_object()
        && let Some(owned) = SERVER_OWNED.iter().find(|f| object.contains_key(**f))
    {
        return Err(AppError::new(
            ReasonCode::InvalidRequest,
            format!("`{owned}` is set by the server and cannot be written."),
        )
        .with_param(*owned, "server_owned_field"));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        let (name, reason) = field_and_reason(&path, &inner);
        AppError::new(
            ReasonCode::InvalidRequest,
            format!("Invalid body: {inner}."),
        )
        .with_param(name, reason)
    })
}

/// Names the field and a machine reason for a serde error.
fn field_and_reason(path: &str, message: &str) -> (String, &'static str) {
    let quoted = |m: &str| m.split('`').nth(1).map(str::to_owned);
    if message.starts_with("missing field") {
        let field = quoted(message).unwrap_or_default();
        let name = if path == "." || path.is_empty() {
            field
        } else {
            format!("{path}.{field}")
        };
        return (name, "required");
    }
    if message.starts_with("unknown field") {
        // Unlike a missing field, the path already ends at the unknown key.
        let name = if path == "." || path.is_empty() {
            quoted(message).unwrap_or_default()
        } else {
            path.to_owned()
        };
        return (name, "unknown_field");
    }
    let name = if path == "." {
        "body".to_owned()
    } else {
        path.to_owned()
    };
    if message.contains("null") {
        return (name, "required_field_clear");
    }
    (name, "invalid_type")
}

/// The `If-Match` precondition: absent, or a token (quoted or bare lowercase hex).
pub struct IfMatch(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(raw) = parts.headers.get(IF_MATCH) else {
            return Ok(IfMatch(None));
        };
        let malformed = || {
            AppError::new(
                ReasonCode::PreconditionFailed,
                "If-Match must be the lowercase-hex token of the resource's updatedAtUtc.",
            )
        };
        let raw = raw.to_str().map_err(|_| malformed())?.trim();
        let token = raw
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .unwrap_or(raw);
        if token.is_empty()
            || !token
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(malformed());
        }
        Ok(IfMatch(Some(token.to_owned())))
    }
}

/// `limit` and `cursor` of a list endpoint.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The page size: absent → 100; not an integer → `invalid_params`; < 1 → `param_out_of_range`;
    /// > 500 → 500.
    pub fn limit(&self) -> Result<u32, AppError> {
        let raw = match self.limit.as_deref() {
            None | Some("") => None,
            Some(text) => Some(text.parse::<i64>().map_err(|_| {
                AppError::new(
                    ReasonCode::InvalidParams,
                    format!("limit must be an integer; got `{text}`."),
                )
                .with_param("limit", "invalid_type")
            })?),
        };
        Ok(proem_core::cursor::page_limit(raw)?)
    }
}

#[cfg(test)]
mod tests {
    use proem_api::patch::Patch;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[serde(default)]
        name: Patch<String>,
        #[serde(default)]
        count: Option<u32>,
    }

    #[test]
    fn merge_patch_distinguishes_absent_null_and_value() {
        let b: Body = parse_json(br#"{}"#).unwrap();
        assert_eq!(b.name, Patch::Absent);
        let b: Body = parse_json(br#"{"name": null}"#).unwrap();
        assert_eq!(b.name, Patch::Clear);
        let b: Body = parse_json(br#"{"name": "x"}"#).unwrap();
        assert_eq!(b.name, Patch::Set("x".into()));
        assert_eq!(b.count, None);
    }

    #[test]
    fn server_owned_fields_are_rejected_by_name() {
        let e = parse_json::<Body>(br#"{"id": "prm_1"}"#).unwrap_err();
        assert_eq!(e.code(), ReasonCode::InvalidRequest);
    }

    #[test]
    fn wrong_types_and_unknown_fields_are_invalid_request() {
        assert_eq!(
            parse_json::<Body>(br#"{"count": "x"}"#).unwrap_err().code(),
            ReasonCode::InvalidRequest
        );
        assert_eq!(
            parse_json::<Body>(br#"{"nope": 1}"#).unwrap_err().code(),
            ReasonCode::InvalidRequest
        );
        assert_eq!(
            parse_json::<Body>(b"{").unwrap_err().code(),
            ReasonCode::InvalidRequest
        );
    }
}
