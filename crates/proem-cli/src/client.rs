//! The API client: one request = method, path under `/api/v2/public`, query and body; the key in
//! `X-API-Key`; an `Idempotency-Key` on every mutation (a fresh UUIDv4 per invocation, or the
//! pinned `--idempotency-key`); safe retries of transient failures (429 after `Retry-After`,
//! 503, `idempotency_in_flight`, a connection reset) with the same key on every attempt; and
//! error answers parsed into problem documents (spec "Errors", "Idempotency").

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;

use crate::credentials::Resolved;
use crate::error::{CliError, Exit};

/// Attempts per request, the first included.
const MAX_ATTEMPTS: u32 = 4;
/// The longest `Retry-After` waited for; a longer one ends the command as rate limited.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Backoff before retry n (1-based) of a failure without `Retry-After`: n × this.
const BACKOFF_STEP: Duration = Duration::from_millis(300);
/// Time limit of a request that is not a stream.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest pinned key: room for the `.N` suffix of later mutations in the same invocation.
const MAX_PINNED_KEY: usize = 240;

/// A request body.
#[derive(Debug, Clone)]
pub enum Body {
    None,
    Json(serde_json::Value),
    /// RFC 7396, sent as `application/merge-patch+json`.
    MergePatch(serde_json::Value),
    /// `multipart/form-data` with a `file` part and optional `type` and `filename` fields; rebuilt
    /// for every attempt.
    File {
        filename: String,
        bytes: Arc<Vec<u8>>,
        kind: Option<String>,
    },
}

/// One API call.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    /// Relative to `/api/v2/public`, e.g. `/prompts/prm_…`.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Body,
    pub headers: Vec<(&'static str, String)>,
    /// Read the answer as a stream: no overall time limit.
    pub stream: bool,
}

impl Call {
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            query: Vec::new(),
            body: Body::None,
            headers: Vec::new(),
            stream: false,
        }
    }

    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path)
    }

    pub fn query(mut self, name: &str, value: impl ToString) -> Self {
        self.query.push((name.to_owned(), value.to_string()));
        self
    }

    /// Adds `name=value` when `value` is set.
    pub fn query_opt(self, name: &str, value: Option<impl ToString>) -> Self {
        match value {
            Some(v) => self.query(name, v),
            None => self,
        }
    }

    pub fn json(mut self, body: serde_json::Value) -> Self {
        self.body = Body::Json(body);
        self
    }

    pub fn merge_patch(mut self, body: serde_json::Value) -> Self {
        self.body = Body::MergePatch(body);
        self
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn streamed(mut self) -> Self {
        self.stream = true;
        self
    }

    fn mutating(&self) -> bool {
        !matches!(self.method, Method::GET | Method::HEAD | Method::OPTIONS)
    }
}

/// A successful answer (2xx) with its body read, or a stream still to read.
pub struct Answer {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as `T`; an unexpected shape is exit 1.
    pub fn parse<T: DeserializeOwned>(&self) -> anyhow::Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            CliError::new(
                Exit::Other,
                format!("the server's answer has an unexpected shape: {e}"),
            )
            .into()
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The client of one invocation.
pub struct Api {
    http: reqwest::Client,
    pub base: String,
    key: String,
    /// The Idempotency-Key of this invocation's first mutation; later ones add `.2`, `.3`, … so a
    /// retry of the whole command with a pinned key replays every step.
    idem_base: String,
    mutations: AtomicU32,
}

impl Api {
    pub fn new(resolved: &Resolved, pinned_key: Option<String>) -> anyhow::Result<Self> {
        Self::with(resolved.url.clone(), resolved.key.clone(), pinned_key)
    }

    pub fn with(base: String, key: String, pinned_key: Option<String>) -> anyhow::Result<Self> {
        let idem_base = match pinned_key {
            Some(k) => {
                let ok = !k.is_empty()
                    && k.len() <= MAX_PINNED_KEY
                    && k.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',');
                if !ok {
                    return Err(CliError::usage(format!(
                        "--idempotency-key must be 1–{MAX_PINNED_KEY} visible ASCII characters without commas"
                    ))
                    .into());
                }
                k
            }
            None => uuid::Uuid::new_v4().to_string(),
        };
        Ok(Self {
            http: http_client()?,
            base,
            key,
            idem_base,
            mutations: AtomicU32::new(0),
        })
    }

    fn next_idempotency_key(&self) -> String {
        match self.mutations.fetch_add(1, Ordering::Relaxed) {
            0 => self.idem_base.clone(),
            n => format!("{}.{}", self.idem_base, n + 1),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v2/public{path}", self.base)
    }

    /// Sends `call` with retries and reads the whole body; an error answer becomes a
    /// [`CliError`] carrying the problem document.
    pub async fn send(&self, call: Call) -> anyhow::Result<Answer> {
        let response = self.send_raw(call).await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| transport_error(&self.base, &e))?
            .to_vec();
        if !status.is_success() {
            return Err(CliError::from_answer(status.as_u16(), &body).into());
        }
        Ok(Answer { headers, body })
    }

    /// Sends `call` and returns the response of a success, its body unread (for streams and
    /// downloads).
    pub async fn open(&self, call: Call) -> anyhow::Result<reqwest::Response> {
        let response = self.send_raw(call).await?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.bytes().await.unwrap_or_default();
        Err(CliError::from_answer(status.as_u16(), &body).into())
    }

    /// The retry loop. The same Idempotency-Key goes with every attempt, so a retry can only
    /// replay, never repeat, a mutation the server already applied.
    async fn send_raw(&self, call: Call) -> anyhow::Result<reqwest::Response> {
        let idem = call.mutating().then(|| self.next_idempotency_key());
        let mut attempt = 1;
        loop {
            let request = self.build(&call, idem.as_deref())?;
            let last = attempt >= MAX_ATTEMPTS;
            match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let retry_after = retry_after(response.headers());
                    let transient = match status.as_u16() {
                        429 | 503 => true,
                        // idempotency_in_flight: the first attempt is still running.
                        409 => retry_after.is_some(),
                        _ => false,
                    };
                    if !transient || last {
                        return Ok(response);
                    }
                    let wait = retry_after.unwrap_or(BACKOFF_STEP * attempt);
                    if wait > MAX_RETRY_AFTER {
                        return Ok(response);
                    }
                    eprintln!(
                        "proem: the server answered {}; retrying in {} (attempt {}/{MAX_ATTEMPTS})",
                        status.as_u16(),
                        humantime::format_duration(wait),
                        attempt + 1
                    );
                    tokio::time::sleep(wait).await;
                }
                Err(e) if retryable(&e) && !last => {
                    let wait = BACKOFF_STEP * attempt;
                    eprintln!(
                        "proem: {}; retrying in {} (attempt {}/{MAX_ATTEMPTS})",
                        describe(&e),
                        humantime::format_duration(wait),
                        attempt + 1
                    );
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(transport_error(&self.base, &e).into()),
            }
            attempt += 1;
        }
    }

    fn build(&self, call: &Call, idem: Option<&str>) -> anyhow::Result<reqwest::RequestBuilder> {
        let mut request = self
            .http
            .request(call.method.clone(), self.url(&call.path))
            .header("x-api-key", &self.key);
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        if let Some(key) = idem {
            request = request.header("idempotency-key", key);
        }
        for (name, value) in &call.headers {
            request = request.header(*name, value);
        }
        if !call.stream {
            request = request.timeout(REQUEST_TIMEOUT);
        }
        request = match &call.body {
            Body::None => request,
            Body::Json(v) => request.json(v),
            Body::MergePatch(v) => request
                .header("content-type", "application/merge-patch+json")
                .body(serde_json::to_vec(v)?),
            Body::File {
                filename,
                bytes,
                kind,
            } => {
                let part = reqwest::multipart::Part::bytes(bytes.as_ref().clone())
                    .file_name(filename.clone());
                let mut form = reqwest::multipart::Form::new()
                    .text("filename", filename.clone())
                    .part("file", part);
                if let Some(kind) = kind {
                    form = form.text("type", kind.clone());
                }
                request.multipart(form)
            }
        };
        Ok(request)
    }
}

/// `Retry-After` in seconds, if present.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get("retry-after")
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// Failures before an answer that are safe to retry with the same Idempotency-Key: the
/// connection could not be made, or broke before the answer's head arrived.
fn retryable(e: &reqwest::Error) -> bool {
    e.is_connect() || e.is_request() || e.is_timeout()
}

/// The innermost cause of a transport error, e.g. "connection refused".
fn describe(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

fn transport_error(base: &str, e: &reqwest::Error) -> CliError {
    CliError::new(
        Exit::Server,
        format!("cannot reach the Proem server at {base}: {}", describe(e)),
    )
    .with_hint(
        "Check that `proem serve` is running there, or set the URL with `proem auth login --url` or PROEM_API_URL.",
    )
}

/// One pooled client: rustls with the ring provider and the platform's roots (never aws-lc-rs),
/// TCP_NODELAY so streamed tokens are not held back, no redirects (the key must not follow one).
fn http_client() -> anyhow::Result<reqwest::Client> {
    use rustls_platform_verifier::BuilderVerifierExt as _;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_platform_verifier()?
        .with_no_client_auth();
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("proem-cli/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_https_client_builds_with_the_ring_provider() {
        assert!(http_client().is_ok());
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
    }

    #[test]
    fn later_mutations_of_one_invocation_get_derived_keys() {
        let api = Api::with(
            "http://127.0.0.1:1".into(),
            "pmk_x".into(),
            Some("k".into()),
        );
        let api = api.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(api.next_idempotency_key(), "k");
        assert_eq!(api.next_idempotency_key(), "k.2");
        assert!(Api::with("u".into(), "k".into(), Some("a,b".into())).is_err());
    }
}
