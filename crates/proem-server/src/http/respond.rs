//! Small response helpers shared by the resource routers.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::middleware::guard::Touched;

/// A JSON response that records which prompt (and object) it touched, for audit and activity.
pub fn touching(
    prompt_id: &str,
    object_id: Option<&str>,
    status: StatusCode,
    body: impl Serialize,
) -> Response {
    let mut response = (status, Json(body)).into_response();
    response.extensions_mut().insert(Touched {
        prompt_id: Some(prompt_id.to_owned()),
        object_id: object_id.map(str::to_owned),
    });
    response
}

/// 201 Created with a Location header.
pub fn created(location: &str, prompt_id: &str, object_id: &str, body: impl Serialize) -> Response {
    let mut response = touching(prompt_id, Some(object_id), StatusCode::CREATED, body);
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// An image's bytes with their content type. Private: it is one user's output.
pub fn image(mime_type: &str, bytes: axum::body::Bytes) -> Response {
    let content_type = HeaderValue::from_str(mime_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    (
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=3600"),
            ),
        ],
        bytes,
    )
        .into_response()
}
