//! The engine's error: either a rejection the caller can act on (a spec reason code with detail)
//! or an infrastructure failure the server logs and answers with `internal_error`.

use proem_api::{InvalidParam, ReasonCode};

use crate::store::StoreError;

/// A refusal with a reason code from the spec's table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: ReasonCode,
    pub detail: String,
    pub invalid_params: Vec<InvalidParam>,
}

impl Rejection {
    pub fn new(code: ReasonCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            invalid_params: Vec::new(),
        }
    }

    pub fn with_param(mut self, name: impl Into<String>, reason: impl Into<String>) -> Self {
        self.invalid_params.push(InvalidParam::new(name, reason));
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {}", .0.code, .0.detail)]
    Rejected(Rejection),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("blob store: {0}")]
    Blob(#[from] object_store::Error),
}

impl From<Rejection> for Error {
    fn from(r: Rejection) -> Self {
        Error::Rejected(r)
    }
}

impl Error {
    pub fn rejected(code: ReasonCode, detail: impl Into<String>) -> Self {
        Error::Rejected(Rejection::new(code, detail))
    }

    /// The reason code a caller sees for this error.
    pub fn code(&self) -> ReasonCode {
        match self {
            Error::Rejected(r) => r.code,
            Error::Store(e) if e.is_unavailable() => ReasonCode::ServiceUnavailable,
            Error::Store(_) | Error::Blob(_) => ReasonCode::InternalError,
        }
    }
}
