//! How a provider call fails: one enum whose variants map onto the run_failed reason codes and
//! the charge flag (spec "SSE protocol", "Charge visibility"). Every text it carries has been
//! cut short and scrubbed of key-like words when it was made, so `Display` is safe to log and to
//! show a client.

use std::fmt;

/// The phase in which the upstream went quiet for too long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutPhase {
    /// The TCP (and TLS) connection was not established in time.
    Connect,
    /// No response, or no first byte of its body, in time.
    FirstByte,
    /// The body stalled between two chunks.
    Idle,
}

impl fmt::Display for TimeoutPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutPhase::Connect => "connect in time",
            TimeoutPhase::FirstByte => "start answering in time",
            TimeoutPhase::Idle => "send anything for too long mid-stream",
        })
    }
}

/// The kind of failure an upstream reported inside an otherwise healthy stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamClass {
    RateLimited,
    Unavailable,
    Rejected,
}

impl fmt::Display for UpstreamClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UpstreamClass::RateLimited => "rate limited",
            UpstreamClass::Unavailable => "unavailable",
            UpstreamClass::Rejected => "rejected",
        })
    }
}

/// A failed provider call. `charged` fields say whether the upstream had started producing output
/// (and so will bill the call) when it failed.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The provider's base URL does not make a valid request URL.
    #[error("the provider's base URL is not a valid URL")]
    InvalidBaseUrl,
    /// The API key holds characters that cannot go into an HTTP header.
    #[error("the provider's API key contains characters not allowed in a header")]
    InvalidApiKey,
    /// No connection could be made (refused, DNS, TLS), or it broke before any answer.
    #[error("could not reach the provider: {cause}")]
    Unreachable { cause: String },
    #[error("the provider did not {phase}")]
    Timeout { phase: TimeoutPhase, charged: bool },
    /// The upstream answered a non-success status instead of a stream.
    #[error("the provider answered HTTP {status}{}", excerpt_suffix(.excerpt))]
    Status { status: u16, excerpt: String },
    /// The upstream sent an error event (`response.failed`, `error`) inside the stream.
    #[error("the provider reported an error mid-stream ({class}){}", excerpt_suffix(.excerpt))]
    Upstream {
        class: UpstreamClass,
        excerpt: String,
        charged: bool,
    },
    /// The upstream sent something that is not the protocol: bad JSON, not an event stream.
    #[error("the provider sent an unexpected answer: {detail}")]
    Protocol { detail: String, charged: bool },
    /// The body broke or ended before the upstream's completion marker.
    #[error("the provider's stream ended before it completed")]
    Interrupted { charged: bool },
}

fn excerpt_suffix(excerpt: &str) -> String {
    if excerpt.is_empty() {
        String::new()
    } else {
        format!(": {excerpt}")
    }
}

impl LlmError {
    /// A reason code for run_failed.
    pub fn reason_code(&self) -> &'static str {
        match self {
            LlmError::InvalidBaseUrl | LlmError::Unreachable { .. } => "upstream_unreachable",
            LlmError::InvalidApiKey => "upstream_rejected",
            LlmError::Timeout { .. } => "upstream_timeout",
            LlmError::Status { status, .. } => match status {
                429 => "upstream_rate_limited",
                400..=499 => "upstream_rejected",
                500..=599 => "upstream_unavailable",
                // A redirect or an informational status where a stream was due.
                _ => "upstream_protocol_error",
            },
            LlmError::Upstream { class, .. } => match class {
                UpstreamClass::RateLimited => "upstream_rate_limited",
                UpstreamClass::Unavailable => "upstream_unavailable",
                UpstreamClass::Rejected => "upstream_rejected",
            },
            LlmError::Protocol { .. } => "upstream_protocol_error",
            LlmError::Interrupted { .. } => "upstream_stream_interrupted",
        }
    }

    /// Whether the provider will have billed the call: true once the upstream started producing
    /// output, false for errors before the first byte.
    pub fn charged(&self) -> bool {
        match self {
            LlmError::InvalidBaseUrl
            | LlmError::InvalidApiKey
            | LlmError::Unreachable { .. }
            | LlmError::Status { .. } => false,
            LlmError::Timeout { charged, .. }
            | LlmError::Upstream { charged, .. }
            | LlmError::Protocol { charged, .. }
            | LlmError::Interrupted { charged } => *charged,
        }
    }

    /// A short message safe to show a client (no keys, no prompt text).
    pub fn message(&self) -> String {
        self.to_string()
    }
}

/// Longest upstream text kept in an error.
const EXCERPT_CHARS: usize = 200;

/// A short, scrubbed excerpt of an upstream error body: the provider's `error.message` when the
/// body is one of the known JSON shapes, else the start of the raw text. `secret` (the key of the
/// call) and anything that looks like a key are replaced, because providers echo a masked key in
/// 401 messages and a masked key is still more than a client needs.
pub(crate) fn excerpt(body: &[u8], secret: Option<&str>) -> String {
    let text = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(parsed) => parsed.message().unwrap_or_default(),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    scrub(&text, secret)
}

/// Scrubs and shortens an upstream-provided message.
pub(crate) fn scrub(text: &str, secret: Option<&str>) -> String {
    let mut out = String::with_capacity(text.len().min(EXCERPT_CHARS + 16));
    for (i, word) in text.split_whitespace().enumerate() {
        if out.chars().count() >= EXCERPT_CHARS {
            out.push('…');
            break;
        }
        if i > 0 {
            out.push(' ');
        }
        let secret_hit = secret.is_some_and(|s| !s.is_empty() && word.contains(s));
        if secret_hit || looks_like_key(word) {
            out.push_str("[redacted]");
        } else {
            out.push_str(word);
        }
    }
    if out.chars().count() > EXCERPT_CHARS + 1 {
        out = out.chars().take(EXCERPT_CHARS).collect();
        out.push('…');
    }
    out
}

/// Key prefixes of the providers Proem talks to, and long tokens mixing letters and digits.
fn looks_like_key(word: &str) -> bool {
    let word = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if ["sk-", "sk_", "pmk_", "key-", "Bearer"]
        .iter()
        .any(|p| word.starts_with(p))
    {
        return true;
    }
    let letters = word.chars().filter(char::is_ascii_alphabetic).count();
    let digits = word.chars().filter(char::is_ascii_digit).count();
    word.len() >= 24 && letters > 0 && digits > 0 && !word.contains('/')
}

/// Error bodies as OpenAI, Anthropic, OpenRouter and Ollama send them: `{"error":{"message":…}}`,
/// `{"type":"error","error":{…}}`, `{"error":"text"}` or `{"message":…}`.
#[derive(serde::Deserialize)]
struct ErrorBody {
    error: Option<ErrorField>,
    message: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum ErrorField {
    Text(String),
    Object { message: Option<String> },
}

impl ErrorBody {
    fn message(self) -> Option<String> {
        match self.error {
            Some(ErrorField::Text(text)) => Some(text),
            Some(ErrorField::Object { message }) => message.or(self.message),
            None => self.message,
        }
    }
}

/// A short description of a JSON error that never quotes the input (which may be output text).
pub(crate) fn json_detail(what: &str, err: &serde_json::Error) -> String {
    let kind = match err.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "malformed",
        serde_json::error::Category::Data => "unexpected",
        serde_json::error::Category::Eof => "truncated",
    };
    format!("{kind} JSON in a {what} frame (column {})", err.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_takes_the_message_of_known_error_shapes() {
        let openai = br#"{"error":{"message":"The model `x` does not exist","type":"invalid_request_error"}}"#;
        assert_eq!(excerpt(openai, None), "The model `x` does not exist");
        let anthropic =
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert_eq!(excerpt(anthropic, None), "Overloaded");
        let ollama = br#"{"error":"model 'llama9' not found"}"#;
        assert_eq!(excerpt(ollama, None), "model 'llama9' not found");
        assert_eq!(excerpt(b"Bad Gateway", None), "Bad Gateway");
    }

    #[test]
    fn excerpt_redacts_keys_and_is_short() {
        let body = br#"{"error":{"message":"Incorrect API key provided: sk-proj-abc***xyz. Find your key."}}"#;
        let text = excerpt(body, None);
        assert!(!text.contains("sk-"), "{text}");
        assert!(text.contains("[redacted]"));

        let text = excerpt(b"token hunter2secret rejected", Some("hunter2secret"));
        assert_eq!(text, "token [redacted] rejected");

        let long = "word ".repeat(200);
        assert!(excerpt(long.as_bytes(), None).chars().count() <= EXCERPT_CHARS + 1);
    }
}
