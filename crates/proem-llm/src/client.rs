//! The HTTP side of a call: one pooled client for every provider (TCP_NODELAY, rustls with the
//! ring provider), the POST with its retries before the first byte, and the hand-over of the
//! body to the relay.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use tokio::time::Instant;

use crate::error::{LlmError, TimeoutPhase, excerpt};
use crate::relay::{Decode, relay};
use crate::wire::Prepared;
use crate::{EventStream, LlmRequest, ProviderKind, anthropic, openai_chat, openai_responses};

/// Retries after the first attempt, for failures before the first byte of the body.
const MAX_RETRIES: u32 = 2;
/// Backoff before retry n (1-based) is `n × BACKOFF_STEP`.
const BACKOFF_STEP: Duration = Duration::from_millis(150);
/// A Retry-After longer than this is not waited for: the run fails now as rate limited or
/// unavailable, which tells the client more than a stalled stream would.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);
/// Most of an error body read for its excerpt.
const ERROR_BODY_LIMIT: usize = 4096;

/// How long the upstream may keep us waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To establish the TCP (and TLS) connection.
    pub connect: Duration,
    /// From sending the request to the first byte of the response body, per attempt.
    pub first_byte: Duration,
    /// Between two chunks of the body once it flows.
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(60),
            idle: Duration::from_secs(120),
        }
    }
}

/// Calls providers. Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct LlmClient {
    /// The pooled client, or why it could not be built (then every call fails with it).
    http: Result<reqwest::Client, Arc<str>>,
    timeouts: Timeouts,
}

impl LlmClient {
    pub fn new(timeouts: Timeouts) -> Self {
        let http = build_http(&timeouts).map_err(|err| {
            tracing::error!(error = %err, "could not set up the HTTP client for providers");
            Arc::from(err)
        });
        Self { http, timeouts }
    }

    /// Starts the call. Connection errors, 429 and 5xx answered before the first byte of the
    /// body are retried (at most twice, short backoff, honouring a small Retry-After); nothing
    /// is retried after the first byte. The stream ends (`None`) after the upstream's completion
    /// marker; an `Err` item means it failed mid-way.
    pub async fn stream(&self, req: LlmRequest) -> Result<EventStream, LlmError> {
        match req.target.kind {
            ProviderKind::Openai => {
                let prepared = openai_responses::prepare(&req)?;
                self.start(prepared, &req, openai_responses::Decoder::default())
                    .await
            }
            ProviderKind::OpenaiChat => {
                let prepared = openai_chat::prepare(&req)?;
                self.start(prepared, &req, openai_chat::Decoder::new())
                    .await
            }
            ProviderKind::Anthropic => {
                let prepared = anthropic::prepare(&req)?;
                self.start(prepared, &req, anthropic::Decoder::new()).await
            }
        }
    }

    async fn start<D: Decode>(
        &self,
        prepared: Prepared,
        req: &LlmRequest,
        decoder: D,
    ) -> Result<EventStream, LlmError> {
        let http = self.http.as_ref().map_err(|err| LlmError::Unreachable {
            cause: err.to_string(),
        })?;
        let secret = req.target.api_key.as_deref();
        let mut attempt = 0;
        loop {
            let deadline = Instant::now() + self.timeouts.first_byte;
            let outcome = send(http, &prepared, deadline, secret).await;
            let (error, wait) = match outcome {
                Ok(response) => {
                    return Ok(relay(response, decoder, deadline, self.timeouts.idle));
                }
                Err(Failure { error, retry: None }) => return Err(error),
                Err(Failure {
                    error,
                    retry: Some(wait),
                }) => (error, wait),
            };
            if attempt == MAX_RETRIES {
                return Err(error);
            }
            attempt += 1;
            let wait = wait.max(BACKOFF_STEP * attempt);
            tracing::debug!(
                provider = ?req.target.kind,
                reason = error.reason_code(),
                attempt,
                wait_ms = wait.as_millis() as u64,
                "retrying the provider call"
            );
            tokio::time::sleep(wait).await;
        }
    }
}

/// A failed attempt, and whether (after how long at least) it may be tried again.
struct Failure {
    error: LlmError,
    retry: Option<Duration>,
}

impl From<LlmError> for Failure {
    fn from(error: LlmError) -> Self {
        Self { error, retry: None }
    }
}

/// One attempt: the response when it is a stream, else the failure.
async fn send(
    http: &reqwest::Client,
    prepared: &Prepared,
    deadline: Instant,
    secret: Option<&str>,
) -> Result<reqwest::Response, Failure> {
    let request = http
        .post(&prepared.url)
        .headers(prepared.headers.clone())
        .body(prepared.body.clone())
        .send();
    let response = match tokio::time::timeout_at(deadline, request).await {
        Err(_) => {
            return Err(LlmError::Timeout {
                phase: TimeoutPhase::FirstByte,
                charged: false,
            }
            .into());
        }
        Ok(Err(err)) => return Err(send_failure(&err)),
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    if status == StatusCode::OK {
        return check_event_stream(response);
    }
    let retry = (status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error())
        .then(|| retry_after(response.headers()))
        .flatten();
    let body = read_error_body(response, deadline).await;
    tracing::debug!(
        status = status.as_u16(),
        "provider answered an error status"
    );
    Err(Failure {
        error: LlmError::Status {
            status: status.as_u16(),
            excerpt: excerpt(&body, secret),
        },
        retry,
    })
}

/// Refuses a 200 that is not an event stream (a JSON answer from a server that ignored
/// `stream: true`, an HTML page from a proxy): relaying it would fail on every frame. A JSON
/// 200 is a whole completion the provider generated, and billed, so it counts as charged; any
/// other body (a proxy's page) came from no model.
fn check_event_stream(response: reqwest::Response) -> Result<reqwest::Response, Failure> {
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    match content_type {
        Some(ct) if !ct.starts_with("text/event-stream") => Err(LlmError::Protocol {
            detail: format!(
                "expected an event stream, got {}",
                ct.split(';').next().unwrap_or(ct)
            ),
            charged: ct.starts_with("application/json"),
        }
        .into()),
        _ => Ok(response),
    }
}

/// How long to wait before trying a 429 or 5xx again: at least the backoff, or what the upstream
/// asked for (`retry-after-ms` as OpenAI sends it, or `Retry-After` in seconds). `None` when it
/// asked for longer than we are willing to hold a run.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let asked = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|ms| Duration::from_secs_f64(ms.max(0.0) / 1000.0))
        .or_else(|| {
            headers
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(|v| {
                    // An HTTP date is not worth parsing here: it is never "small".
                    v.trim()
                        .parse::<u64>()
                        .map_or(Duration::MAX, Duration::from_secs)
                })
        })
        .unwrap_or(Duration::ZERO);
    (asked <= MAX_RETRY_AFTER).then_some(asked)
}

/// Up to [`ERROR_BODY_LIMIT`] bytes of an error body, or what arrived before the deadline.
async fn read_error_body(mut response: reqwest::Response, deadline: Instant) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < ERROR_BODY_LIMIT {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(ERROR_BODY_LIMIT);
    body
}

/// Maps a send error. Only a connection that was never established is retried: once the request
/// went out, the upstream may be working on it, and a second attempt could be billed twice.
fn send_failure(err: &reqwest::Error) -> Failure {
    if err.is_builder() {
        return LlmError::InvalidBaseUrl.into();
    }
    if err.is_timeout() {
        let phase = if err.is_connect() {
            TimeoutPhase::Connect
        } else {
            TimeoutPhase::FirstByte
        };
        return LlmError::Timeout {
            phase,
            charged: false,
        }
        .into();
    }
    let error = LlmError::Unreachable {
        cause: root_cause(err),
    };
    Failure {
        error,
        retry: err.is_connect().then_some(Duration::ZERO),
    }
}

/// The innermost cause (`connection refused`, a DNS or TLS failure), which names neither the URL
/// nor anything sent. reqwest's own message is skipped as it quotes the URL.
fn root_cause(err: &reqwest::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(err);
    let mut last = None;
    while let Some(cause) = source {
        // An OS error names its kind ("connection refused") and nothing else.
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io.get_ref().is_none()
        {
            return io.kind().to_string();
        }
        last = Some(cause);
        source = cause.source();
    }
    let text = last.map_or_else(|| "connection failed".to_owned(), ToString::to_string);
    crate::error::scrub(&text, None)
}

/// The pooled client: TCP_NODELAY because deltas are small writes that must not wait for
/// Nagle, no redirects (a POST must not turn into a GET elsewhere), no total timeout (streams are
/// long; the relay's watchdog covers stalls).
fn build_http(timeouts: &Timeouts) -> Result<reqwest::Client, String> {
    let tls = tls_config()?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .tcp_nodelay(true)
        .connect_timeout(timeouts.connect)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_keepalive(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("proem/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| err.to_string())
}

/// rustls with the ring provider and the platform's roots, built here so reqwest never reaches
/// for a process-wide default provider (or for aws-lc-rs).
fn tls_config() -> Result<rustls::ClientConfig, String> {
    use rustls_platform_verifier::BuilderVerifierExt as _;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| err.to_string())?
        .with_platform_verifier()
        .map_err(|err| err.to_string())?
        .with_no_client_auth();
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_honours_small_values_only() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert("retry-after", "1".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(1)));
        headers.insert("retry-after", "120".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after-ms", "250".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(250)));
    }

    #[test]
    fn client_builds_with_tls() {
        let client = LlmClient::new(Timeouts::default());
        assert!(client.http.is_ok());
    }
}
