//! `proem mcp`: the stdio transport for local agents (Claude Desktop, Cursor, scripts). It is a
//! bridge, not a second server, so the tools exist once and keys, scopes, grants, rate limits and
//! activity apply exactly as over HTTP: every JSON-RPC message read from stdin (one per line) is
//! POSTed to the server's `/mcp` with the key, and every message the server answers, as JSON or
//! as an SSE stream, is written to stdout, one per line. Messages the server sends on its own
//! (`notifications/tools/list_changed`) arrive on a GET stream opened once the session is up.
//! A message of the stateless protocol (2026-07-28 on) names its version in `_meta` instead of
//! relying on `initialize`; the bridge repeats it, and its method and name, as the headers the
//! server requires of it. stdout carries protocol messages only; diagnostics go to stderr.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use clap::Args;
use eventsource_stream::Eventsource as _;
use futures::StreamExt as _;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::credentials;

const SESSION_HEADER: &str = "mcp-session-id";
const PROTOCOL_HEADER: &str = "mcp-protocol-version";
const METHOD_HEADER: &str = "mcp-method";
const NAME_HEADER: &str = "mcp-name";
/// Where a request names its protocol version without a session (SEP-2575).
const META_PROTOCOL: &str = "io.modelcontextprotocol/protocolVersion";
/// The first version whose messages repeat their method and name in headers (SEP-2243).
const STANDARD_HEADERS_FROM: &str = "2026-07-28";
/// On end of input, how long answers still in flight may take before the bridge exits.
const DRAIN: Duration = Duration::from_secs(5);
/// JSON-RPC error code for a failure between the bridge and the server.
const BRIDGE_ERROR: i64 = -32001;

/// Serve MCP on stdin/stdout for a local agent, bridged to a Proem server's `/mcp`.
#[derive(Debug, Args)]
pub struct McpArgs {
    /// The Proem server, e.g. https://proem.example.com [default: the saved login, else
    /// http://127.0.0.1:8080]. The key comes from PROEM_API_KEY or `proem auth login`.
    #[arg(long, env = "PROEM_API_URL")]
    pub url: Option<String>,
}

/// The bridge's state: where to post, the session the server assigned, and stdout.
struct Bridge {
    http: reqwest::Client,
    endpoint: String,
    key: String,
    session: Mutex<Option<String>>,
    protocol: Mutex<Option<String>>,
    out: mpsc::UnboundedSender<String>,
    /// Ends every stream (after the drain).
    stop: CancellationToken,
    /// Ends the GET stream (at end of input).
    quiet: CancellationToken,
    listening: Mutex<bool>,
    tasks: TaskTracker,
}

pub async fn run(args: McpArgs) -> anyhow::Result<()> {
    let resolved = credentials::resolve()?;
    let url = match args.url {
        Some(url) => credentials::check_url(&url)?,
        None => resolved.url.clone(),
    };
    let (out, mut lines) = mpsc::unbounded_channel::<String>();
    let bridge = Arc::new(Bridge {
        http: http_client()?,
        endpoint: format!("{url}/mcp"),
        key: resolved.key.clone(),
        session: Mutex::new(None),
        protocol: Mutex::new(None),
        out,
        stop: CancellationToken::new(),
        quiet: CancellationToken::new(),
        listening: Mutex::new(false),
        tasks: TaskTracker::new(),
    });
    eprintln!("proem mcp: bridging stdio to {}", bridge.endpoint);
    // stdio is plain blocking I/O on its own threads: one line in, one line out.
    // (Threads, not the runtime's blocking pool: a read blocked on stdin must not hold up exit.)
    let (written, writer) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        while let Some(line) = lines.blocking_recv() {
            if writeln!(stdout, "{line}")
                .and_then(|()| stdout.flush())
                .is_err()
            {
                break;
            }
        }
        let _ = written.send(());
    });
    let (input, mut incoming) = mpsc::channel::<std::io::Result<String>>(64);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            if input.blocking_send(line).is_err() {
                break;
            }
        }
    });
    while let Some(line) = incoming.recv().await {
        let line = line.context("cannot read stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(&line) {
            Ok(message) => {
                let bridge = bridge.clone();
                bridge
                    .tasks
                    .clone()
                    .spawn(async move { bridge.post(message).await });
            }
            Err(e) => bridge.emit(&json!({
                "jsonrpc": "2.0",
                "id": null,
                "error": {"code": -32700, "message": format!("Parse error: {e}")},
            })),
        }
    }
    // End of input: let answers in flight finish briefly, then close the session.
    bridge.quiet.cancel();
    bridge.tasks.close();
    let _ = tokio::time::timeout(DRAIN, bridge.tasks.wait()).await;
    bridge.stop.cancel();
    bridge.close_session().await;
    drop(bridge);
    // Everything queued for stdout is written once the last sender is gone.
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
    Ok(())
}

impl Bridge {
    fn emit(&self, message: &Value) {
        let _ = self.out.send(message.to_string());
    }

    /// A request to `/mcp` with the key, the session and `own` headers ([`message_headers`]);
    /// the version `initialize` negotiated unless `own` names one.
    fn request(
        &self,
        method: reqwest::Method,
        own: &[(&'static str, String)],
    ) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .request(method, &self.endpoint)
            .bearer_auth(&self.key);
        if let Some(sid) = self.session.lock().ok().and_then(|s| s.clone()) {
            request = request.header(SESSION_HEADER, sid);
        }
        let versioned = own.iter().any(|(name, _)| *name == PROTOCOL_HEADER);
        if !versioned && let Some(version) = self.protocol.lock().ok().and_then(|p| p.clone()) {
            request = request.header(PROTOCOL_HEADER, version);
        }
        for (name, value) in own {
            request = request.header(*name, value);
        }
        request
    }

    /// Forwards one message and writes what the server answers.
    async fn post(self: Arc<Self>, message: Value) {
        let id = message.get("id").cloned();
        let is_request = id.is_some() && message.get("method").is_some();
        let is_initialized =
            message.get("method").and_then(Value::as_str) == Some("notifications/initialized");
        let sent = self
            .request(reqwest::Method::POST, &message_headers(&message))
            .header(ACCEPT, "application/json, text/event-stream")
            .header(CONTENT_TYPE, "application/json")
            .json(&message)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                if is_request {
                    self.fail(id, format!("Cannot reach {}: {e}", self.endpoint), None);
                }
                return;
            }
        };
        if let Some(sid) = response
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            && let Ok(mut slot) = self.session.lock()
        {
            *slot = Some(sid.to_owned());
        }
        let status = response.status();
        if !status.is_success() {
            if status == reqwest::StatusCode::NOT_FOUND
                && let Ok(mut slot) = self.session.lock()
            {
                // The server forgot the session; the agent re-initializes.
                *slot = None;
            }
            if is_request {
                let body = response.bytes().await.unwrap_or_default();
                self.fail_http(id, status.as_u16(), &body);
            }
            return;
        }
        if is_initialized {
            self.clone().listen();
        }
        let streamed = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if streamed {
            self.relay_stream(response, &self.stop).await;
        } else if let Ok(body) = response.bytes().await
            && !body.is_empty()
        {
            match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Array(batch)) => batch.iter().for_each(|m| self.deliver(m)),
                Ok(m) => self.deliver(&m),
                Err(e) if is_request => self.fail(id, format!("Unreadable answer: {e}"), None),
                Err(_) => {}
            }
        }
    }

    /// Writes the messages of an SSE answer as they arrive.
    async fn relay_stream(&self, response: reqwest::Response, until: &CancellationToken) {
        let mut events = response.bytes_stream().eventsource();
        loop {
            let next = tokio::select! {
                next = events.next() => next,
                () = until.cancelled() => None,
            };
            let Some(Ok(event)) = next else { break };
            if event.data.trim().is_empty() {
                continue;
            }
            if let Ok(message) = serde_json::from_str::<Value>(&event.data) {
                self.deliver(&message);
            }
        }
    }

    /// Writes a server message, noting the protocol version an `initialize` result names.
    fn deliver(&self, message: &Value) {
        if let Some(version) = message
            .get("result")
            .and_then(|r| r.get("protocolVersion"))
            .and_then(Value::as_str)
            && let Ok(mut slot) = self.protocol.lock()
        {
            *slot = Some(version.to_owned());
        }
        self.emit(message);
    }

    /// Opens the session's GET stream once, for messages the server sends on its own; reopens
    /// it after a drop until the bridge stops or the server does not offer one.
    fn listen(self: Arc<Self>) {
        match self.listening.lock() {
            Ok(mut on) if !*on => *on = true,
            _ => return,
        }
        let bridge = self.clone();
        self.tasks.spawn(async move {
            let mut backoff = Duration::from_secs(1);
            while !bridge.quiet.is_cancelled() {
                let opened = bridge
                    .request(reqwest::Method::GET, &[])
                    .header(ACCEPT, "text/event-stream")
                    .send()
                    .await;
                match opened {
                    Ok(r) if r.status().is_success() => {
                        backoff = Duration::from_secs(1);
                        bridge.relay_stream(r, &bridge.quiet).await;
                    }
                    // No standalone stream (405) or no session any more (404, 4xx): stop.
                    Ok(r) if r.status().is_client_error() => break,
                    _ => {}
                }
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = bridge.quiet.cancelled() => break,
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        });
    }

    /// Ends the session on the server.
    async fn close_session(&self) {
        if self.session.lock().ok().and_then(|s| s.clone()).is_some() {
            let _ = tokio::time::timeout(
                Duration::from_secs(2),
                self.request(reqwest::Method::DELETE, &[]).send(),
            )
            .await;
        }
    }

    fn fail(&self, id: Option<Value>, message: String, data: Option<Value>) {
        let mut error = json!({"code": BRIDGE_ERROR, "message": message});
        if let Some(data) = data {
            error["data"] = data;
        }
        self.emit(&json!({"jsonrpc": "2.0", "id": id, "error": error}));
    }

    /// A request the server refused at the HTTP level (a bad key, a foreign session): its
    /// problem document, when there is one, as the error's data.
    fn fail_http(&self, id: Option<Value>, status: u16, body: &[u8]) {
        match serde_json::from_slice::<Value>(body) {
            Ok(problem) if problem.get("reason_code").is_some() => {
                let message = format!(
                    "{} ({status}): {} {}",
                    problem["reason_code"].as_str().unwrap_or_default(),
                    problem["detail"].as_str().unwrap_or_default(),
                    problem["action_hint"].as_str().unwrap_or_default(),
                );
                self.fail(id, message, Some(problem));
            }
            Ok(Value::Object(rpc)) if rpc.contains_key("error") => {
                self.emit(&Value::Object(rpc));
            }
            _ => self.fail(
                id,
                format!(
                    "The server answered {status}: {}",
                    String::from_utf8_lossy(body).trim()
                ),
                None,
            ),
        }
    }
}

/// The headers a message naming its protocol version in `_meta` travels with: that version as
/// `MCP-Protocol-Version` (the server refuses the message without it), and from 2026-07-28 on
/// `Mcp-Method` and, for methods addressing one tool, prompt, resource or task, `Mcp-Name`.
/// Nothing for other messages: they belong to the session `initialize` negotiated. No
/// `Mcp-Param-*`: those mirror arguments a tool's schema marks `x-mcp-header`, and Proem's mark
/// none.
fn message_headers(message: &Value) -> Vec<(&'static str, String)> {
    let params = message.get("params");
    let Some(version) = params
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get(META_PROTOCOL))
        .and_then(Value::as_str)
    else {
        return Vec::new();
    };
    let mut headers = vec![(PROTOCOL_HEADER, version.to_owned())];
    let Some(method) = message.get("method").and_then(Value::as_str) else {
        return headers;
    };
    // Versions are dates, so they compare as strings.
    if version < STANDARD_HEADERS_FROM {
        return headers;
    }
    headers.push((METHOD_HEADER, method.to_owned()));
    let named_by = match method {
        "tools/call" | "prompts/get" => "name",
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => "uri",
        "tasks/get" | "tasks/update" | "tasks/cancel" => "taskId",
        _ => return headers,
    };
    if let Some(name) = params.and_then(|p| p.get(named_by)).and_then(Value::as_str) {
        headers.push((NAME_HEADER, header_value(name)));
    }
    headers
}

/// `value` as SEP-2243 carries it in a header: as is, or `=?base64?…?=` when it would not
/// survive (blanks at either end, control or non-ASCII characters, or the wrapper's own look).
fn header_value(value: &str) -> String {
    let blank = |c: char| c == ' ' || c == '\t';
    let unsafe_text = value.starts_with(blank)
        || value.ends_with(blank)
        || value.chars().any(|c| !(' '..='~').contains(&c));
    let looks_wrapped = value.starts_with("=?base64?") && value.ends_with("?=");
    if unsafe_text || looks_wrapped {
        let encoded = base64::engine::general_purpose::STANDARD.encode(value);
        format!("=?base64?{encoded}?=")
    } else {
        value.to_owned()
    }
}

/// rustls with the ring provider and the platform's roots (never aws-lc-rs), no redirects (the
/// key must not follow one), no overall timeout (a run streams for as long as it takes).
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
        .user_agent(concat!("proem-mcp/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_without_a_meta_version_adds_no_headers() {
        let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                          "params": {"name": "proem_get_catalog", "_meta": {"progressToken": 1}}});
        assert!(message_headers(&call).is_empty());
    }

    #[test]
    fn a_stateless_message_carries_its_version_method_and_name() {
        let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                          "params": {"name": "proem_get_catalog", "arguments": {},
                                     "_meta": {META_PROTOCOL: "2026-07-28"}}});
        assert_eq!(
            message_headers(&call),
            vec![
                (PROTOCOL_HEADER, "2026-07-28".to_owned()),
                (METHOD_HEADER, "tools/call".to_owned()),
                (NAME_HEADER, "proem_get_catalog".to_owned()),
            ]
        );
        let discover = json!({"jsonrpc": "2.0", "id": 2, "method": "server/discover",
                              "params": {"_meta": {META_PROTOCOL: "2026-07-28"}}});
        assert_eq!(message_headers(&discover).len(), 2);
    }

    #[test]
    fn names_that_would_not_survive_a_header_are_base64() {
        assert_eq!(header_value("proem_x"), "proem_x");
        assert_eq!(header_value("café"), "=?base64?Y2Fmw6k=?=");
        assert_eq!(header_value(" x"), "=?base64?IHg=?=");
        assert!(header_value("=?base64?x?=").starts_with("=?base64?PT9i"));
    }
}
