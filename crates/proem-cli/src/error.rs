//! Exit codes and the client's error: every failure the API client reports carries the exit code
//! documented in `proem --help` and the README, and, when the server answered with a problem
//! document, that document (reason code, detail, action hint).

use std::fmt;
use std::process::ExitCode;

use proem_api::Problem;

/// The documented exit codes. Keep in step with [`EXIT_CODES_HELP`] and the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Anything not covered below (local files, unexpected answers).
    Other = 1,
    /// The command line is wrong, or the server refused the request it built as malformed
    /// (400, 413, 415).
    Usage = 2,
    /// No key, or the key was refused (401) or lacks a scope or grant (403).
    Auth = 3,
    /// The prompt, version, run, record or attachment does not exist (404, 410).
    NotFound = 4,
    /// A conflict or failed precondition (409, 412), or a replayed run.
    Conflict = 5,
    /// Still rate limited (429) after the retries.
    RateLimited = 6,
    /// The server or the model provider failed (5xx, unreachable server, `run_failed`).
    Server = 7,
}

impl Exit {
    /// The exit code for an HTTP error status.
    pub fn for_status(status: u16) -> Self {
        match status {
            400 | 413 | 415 | 422 => Exit::Usage,
            401 | 403 => Exit::Auth,
            404 | 410 => Exit::NotFound,
            409 | 412 => Exit::Conflict,
            429 => Exit::RateLimited,
            500..=599 => Exit::Server,
            _ => Exit::Other,
        }
    }

    pub fn code(self) -> ExitCode {
        ExitCode::from(self as u8)
    }
}

/// The exit-code table printed at the end of `proem --help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  other failure (local files, unexpected answers)
  2  usage: bad command line, or the server refused the request as malformed (400, 413, 415)
  3  authentication: no key, key refused (401), or a missing scope or grant (403)
  4  not found (404, 410)
  5  conflict or failed precondition (409, 412), or a run replayed by a reused Idempotency-Key
  6  rate limited (429) after the retries
  7  server or upstream failure (5xx, unreachable server, a run that ends in run_failed)

Client commands read the server URL and key saved by `proem auth login`; PROEM_API_URL and
PROEM_API_KEY override them. `--json` prints only the API's JSON on stdout.";

/// A failure of a client command.
#[derive(Debug)]
pub struct CliError {
    pub exit: Exit,
    /// One line saying what went wrong.
    pub message: String,
    /// The server's problem document, when it sent one.
    pub problem: Option<Box<Problem>>,
    /// Extra lines, e.g. what to do next when there is no problem document.
    pub hint: Option<String>,
    /// Reported inside a stream already printed as JSON Lines: `--json` adds nothing on stdout.
    pub in_stream: bool,
}

impl CliError {
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
            problem: None,
            hint: None,
            in_stream: false,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// An error answer of the API: the problem document when the body is one, else the status.
    pub fn from_answer(status: u16, body: &[u8]) -> Self {
        match serde_json::from_slice::<Problem>(body) {
            Ok(problem) => Self {
                exit: Exit::for_status(status),
                message: problem.detail.clone(),
                problem: Some(Box::new(problem)),
                hint: None,
                in_stream: false,
            },
            Err(_) => {
                let text = String::from_utf8_lossy(body);
                let excerpt: String = text.chars().take(200).collect();
                Self::new(
                    Exit::for_status(status),
                    format!("the server answered HTTP {status}: {}", excerpt.trim()),
                )
            }
        }
    }

    /// The reason code, if the server sent one.
    pub fn reason_code(&self) -> Option<&str> {
        self.problem.as_ref().map(|p| p.reason_code.as_str())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            Some(p) => write!(f, "{} ({}): {}", p.reason_code, p.status, p.detail),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for CliError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_the_documented_codes() {
        assert_eq!(Exit::for_status(400), Exit::Usage);
        assert_eq!(Exit::for_status(401), Exit::Auth);
        assert_eq!(Exit::for_status(403), Exit::Auth);
        assert_eq!(Exit::for_status(404), Exit::NotFound);
        assert_eq!(Exit::for_status(410), Exit::NotFound);
        assert_eq!(Exit::for_status(409), Exit::Conflict);
        assert_eq!(Exit::for_status(412), Exit::Conflict);
        assert_eq!(Exit::for_status(429), Exit::RateLimited);
        assert_eq!(Exit::for_status(502), Exit::Server);
        assert_eq!(Exit::for_status(418), Exit::Other);
    }

    #[test]
    fn a_problem_body_keeps_its_reason_code() {
        let body = br#"{"type":"/problems/prompt_not_found","title":"t","status":404,"detail":"No prompt prm_x.","reason_code":"prompt_not_found","action_hint":"List prompts.","request_id":"req_1"}"#;
        let e = CliError::from_answer(404, body);
        assert_eq!(e.exit, Exit::NotFound);
        assert_eq!(e.reason_code(), Some("prompt_not_found"));
        assert_eq!(e.to_string(), "prompt_not_found (404): No prompt prm_x.");
    }
}
