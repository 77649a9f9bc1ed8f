//! The one place errors become HTTP: every failure is answered as a problem+json document with the
//! spec's reason code. Infrastructure errors are logged here, once, and never leaked.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use proem_api::problem::PROBLEM_CONTENT_TYPE;
use proem_api::{InvalidParam, Problem, ReasonCode};
use proem_core::{Error, Rejection};

use crate::context;

/// An error a handler or middleware returns.
#[derive(Debug)]
pub struct AppError {
    rejection: Rejection,
    /// Extra headers, e.g. `Retry-After`.
    headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl AppError {
    pub fn new(code: ReasonCode, detail: impl Into<String>) -> Self {
        Rejection::new(code, detail).into()
    }

    pub fn with_param(mut self, name: impl Into<String>, reason: impl Into<String>) -> Self {
        self.rejection
            .invalid_params
            .push(InvalidParam::new(name, reason));
        self
    }

    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn code(&self) -> ReasonCode {
        self.rejection.code
    }

    /// The rejection this error answers with (for doors that do not speak HTTP, such as MCP).
    pub(crate) fn into_rejection(self) -> Rejection {
        self.rejection
    }
}

impl From<Rejection> for AppError {
    fn from(rejection: Rejection) -> Self {
        Self {
            rejection,
            headers: Vec::new(),
        }
    }
}

impl From<Error> for AppError {
    fn from(e: Error) -> Self {
        match e {
            Error::Rejected(r) => r.into(),
            other => {
                let code = other.code();
                tracing::error!(error = %other, reason_code = %code, "request failed");
                let detail = match code {
                    ReasonCode::ServiceUnavailable => "The database is unreachable.",
                    _ => "An unexpected error occurred on the server.",
                };
                AppError::new(code, detail)
            }
        }
    }
}

impl From<proem_core::store::StoreError> for AppError {
    fn from(e: proem_core::store::StoreError) -> Self {
        Error::from(e).into()
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let Rejection {
            code,
            detail,
            invalid_params,
        } = self.rejection;
        let mut problem = Problem::new(
            &context::public_url(),
            code,
            detail,
            &*context::request_id(),
        );
        problem.invalid_params = invalid_params;
        let status =
            StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        response
    }
}

pub type AppResult<T> = Result<T, AppError>;
