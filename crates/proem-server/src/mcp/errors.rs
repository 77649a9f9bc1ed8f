//! How a tool call fails: never as a JSON-RPC error the agent cannot read, always as a tool result
//! with `isError: true` whose structured content (and text) is the same problem document REST
//! answers with, so an agent reads `reason_code`, `action_hint` and `invalid_params` and corrects
//! itself. Infrastructure errors are logged here, once, and answered as `internal_error`.

use proem_api::{Problem, ReasonCode};
use proem_core::{Error, Rejection};
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::Value;

/// Why a tool call failed.
#[derive(Debug)]
pub enum Failure {
    /// A refusal or an infrastructure error from the engine.
    Engine(Error),
    /// A problem already built, e.g. a run's upstream failure whose code is the provider's.
    Problem(Box<Problem>),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Engine(e)
    }
}

impl From<Rejection> for Failure {
    fn from(r: Rejection) -> Self {
        Failure::Engine(Error::Rejected(r))
    }
}

impl From<crate::error::AppError> for Failure {
    fn from(e: crate::error::AppError) -> Self {
        Failure::Engine(Error::Rejected(e.into_rejection()))
    }
}

impl From<proem_core::store::StoreError> for Failure {
    fn from(e: proem_core::store::StoreError) -> Self {
        Failure::Engine(Error::from(e))
    }
}

/// A refusal with `code`, naming `param` as the field at fault.
pub fn reject(code: ReasonCode, param: &str, detail: impl Into<String>) -> Failure {
    Rejection::new(code, detail)
        .with_param(param, code.as_str())
        .into()
}

impl Failure {
    /// The problem document, with `base` as the origin of its `type` URL.
    pub fn problem(self, base: &str, request_id: &str) -> Problem {
        match self {
            Failure::Problem(p) => *p,
            Failure::Engine(Error::Rejected(r)) => rejection_problem(base, request_id, r),
            Failure::Engine(other) => {
                let code = other.code();
                tracing::error!(error = %other, reason_code = %code, "MCP tool call failed");
                let detail = match code {
                    ReasonCode::ServiceUnavailable => "The database is unreachable.",
                    _ => "An unexpected error occurred on the server.",
                };
                Problem::new(base, code, detail, request_id)
            }
        }
    }
}

fn rejection_problem(base: &str, request_id: &str, r: Rejection) -> Problem {
    let mut problem = Problem::new(base, r.code, r.detail, request_id);
    problem.invalid_params = r.invalid_params;
    problem
}

/// A problem for a code outside [`ReasonCode`] (a run's upstream failure such as
/// `upstream_timeout`), answered with the status and hint of `like`.
pub fn foreign_problem(
    base: &str,
    request_id: &str,
    code: &str,
    detail: String,
    like: ReasonCode,
) -> Problem {
    if let Some(known) = ReasonCode::from_code(code) {
        return Problem::new(base, known, detail, request_id);
    }
    let mut problem = Problem::new(base, like, detail, request_id);
    problem.type_url = format!("{base}/problems/{code}");
    problem.reason_code = code.to_owned();
    problem
}

/// The failed tool result carrying `problem`.
pub fn error_result(problem: &Problem) -> CallToolResult {
    let value = serde_json::to_value(problem).unwrap_or(Value::Null);
    let mut result = CallToolResult::structured_error(value);
    result.content = vec![ContentBlock::text(summary(problem))];
    result
}

/// One readable block for clients that show only text: the problem document itself, since it
/// says what happened and what to do.
fn summary(problem: &Problem) -> String {
    serde_json::to_string_pretty(problem).unwrap_or_else(|_| problem.detail.clone())
}

/// A successful tool result: `value` as structured content and as JSON text, after any
/// `lead` blocks (a run's final text, an image).
pub fn success_result(value: Value, lead: Vec<ContentBlock>) -> CallToolResult {
    let mut result = CallToolResult::structured(value);
    if !lead.is_empty() {
        let mut content = lead;
        content.append(&mut result.content);
        result.content = content;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejection_becomes_an_error_result_with_the_problem_document() {
        let failure = reject(ReasonCode::ParamOutOfRange, "limit", "limit is 1 to 100.");
        let problem = failure.problem("http://x", "req_1");
        let result = error_result(&problem);
        assert_eq!(result.is_error, Some(true));
        let doc = result.structured_content.unwrap();
        assert_eq!(doc["reason_code"], "param_out_of_range");
        assert_eq!(doc["type"], "http://x/problems/param_out_of_range");
        assert_eq!(doc["invalid_params"][0]["name"], "limit");
        assert!(!doc["action_hint"].as_str().unwrap().is_empty());
        let text = result.content[0].as_text().unwrap().text.clone();
        assert!(text.contains("param_out_of_range"));
    }

    #[test]
    fn a_foreign_code_keeps_its_name_and_borrows_a_status() {
        let p = foreign_problem(
            "",
            "req_1",
            "upstream_timeout",
            "slow".into(),
            ReasonCode::ServiceUnavailable,
        );
        assert_eq!(p.reason_code, "upstream_timeout");
        assert_eq!(p.status, ReasonCode::ServiceUnavailable.status());
        assert_eq!(p.type_url, "/problems/upstream_timeout");
    }
}
