//! The one error shape of every 4xx/5xx answer: RFC 9457 `application/problem+json` with the spec's
//! extension members (spec "Errors").

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ReasonCode;

/// Media type of a problem document.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// One field at fault in a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct InvalidParam {
    /// The field path, e.g. `modelSettings.model_id`.
    pub name: String,
    /// A machine-readable reason, e.g. `unknown_or_inactive_model`.
    pub reason: String,
}

impl InvalidParam {
    pub fn new(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            reason: reason.into(),
        }
    }
}

/// A problem document as sent on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct Problem {
    /// `<base>/problems/<reason_code>`; a working URL that serves a human page.
    #[serde(rename = "type")]
    pub type_url: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub reason_code: String,
    pub action_hint: String,
    pub request_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invalid_params: Vec<InvalidParam>,
}

impl Problem {
    /// Builds the document for `code`; `base` is the server's public origin (may be empty for a
    /// relative `type`).
    pub fn new(
        base: &str,
        code: ReasonCode,
        detail: impl Into<String>,
        request_id: impl Into<String>,
    ) -> Self {
        Self {
            type_url: format!("{base}/problems/{}", code.as_str()),
            title: code.title().to_owned(),
            status: code.status(),
            detail: detail.into(),
            reason_code: code.as_str().to_owned(),
            action_hint: code.action_hint().to_owned(),
            request_id: request_id.into(),
            invalid_params: Vec::new(),
        }
    }

    /// The reason code, if it is one this build knows.
    pub fn code(&self) -> Option<ReasonCode> {
        ReasonCode::from_code(&self.reason_code)
    }
}
