//! A server wired to a fake upstream, an rmcp client that records progress and list-changed
//! notifications, and a raw JSON-RPC-over-HTTP client for the transport tests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proem_core::store::User;
use proem_testkit::{FakeUpstream, TestServer};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientConfig, ProgressNotificationParam,
    RequestMetaObject, Tool,
};
use rmcp::service::{NotificationContext, RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, ServiceExt};
use serde_json::{Value, json};
use tokio::sync::Notify;

pub const ALL: &[&str] = &["read", "execute", "write"];

pub struct Fixture {
    pub server: TestServer,
    pub upstream: FakeUpstream,
    pub user: User,
    pub key: String,
}

impl Fixture {
    pub async fn new() -> Self {
        Self::with(|_| {}).await
    }

    /// A server whose provider is the fake upstream, with rate limits out of the way unless
    /// `adjust` sets them.
    pub async fn with(adjust: impl FnOnce(&mut proem_core::Config)) -> Self {
        let upstream = FakeUpstream::start().await;
        let base_url = upstream.base_url();
        let server = TestServer::start_with(|c| {
            for p in c.providers.values_mut() {
                p.base_url = base_url.clone();
            }
            c.rate_limits.read_per_key = 100_000;
            c.rate_limits.read_per_user = 100_000;
            c.rate_limits.execute_per_key = 100_000;
            c.rate_limits.execute_per_user = 100_000;
            adjust(c);
        })
        .await;
        let (user, key) = server.user_with_key(ALL).await;
        Self {
            server,
            upstream,
            user,
            key,
        }
    }

    pub fn mcp_url(&self) -> String {
        self.server.at("/mcp")
    }

    /// An rmcp client with the fixture's key.
    pub async fn client(&self) -> Client {
        self.client_for(&self.key).await
    }

    pub async fn client_for(&self, key: &str) -> Client {
        let recorder = Recorder::default();
        let transport = StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(self.mcp_url()).auth_header(key),
        );
        let service = recorder.clone().serve(transport).await.unwrap();
        Client { service, recorder }
    }

    /// Another key of the fixture's user.
    pub async fn key_with(&self, scopes: &[&str]) -> String {
        self.server.key_for(&self.user, scopes).await
    }

    pub async fn key_id(&self, key: &str) -> String {
        let hash = proem_core::keys::parse(key).unwrap();
        let (record, _) = self
            .server
            .state
            .store()
            .key_by_hash(&hash)
            .await
            .unwrap()
            .unwrap();
        record.id
    }

    /// A prompt created through MCP; returns its id.
    pub async fn prompt(&self, client: &Client, name: &str) -> String {
        let created = client
            .ok(
                "proem_create_prompt",
                json!({
                    "name": name,
                    "promptText": "Summarize the input in three bullets.",
                    "modelSettings": self.server.model_settings(),
                }),
            )
            .await;
        created["promptId"].as_str().unwrap().to_owned()
    }

    pub fn raw(&self, key: &str) -> Raw {
        Raw {
            http: self.server.http.clone(),
            url: self.mcp_url(),
            key: key.to_owned(),
            session: None,
        }
    }
}

/// Records the notifications the server sends.
#[derive(Clone, Default)]
pub struct Recorder {
    pub progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
    pub tools_changed: Arc<AtomicUsize>,
    pub changed: Arc<Notify>,
}

impl ClientHandler for Recorder {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::default()
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().unwrap().push(params);
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.tools_changed.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }
}

pub struct Client {
    pub service: RunningService<RoleClient, Recorder>,
    pub recorder: Recorder,
}

fn params(name: &str, args: Value) -> CallToolRequestParams {
    let args = match args {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    CallToolRequestParams::new(name.to_owned()).with_arguments(args)
}

impl Client {
    pub async fn call(&self, name: &str, args: Value) -> CallToolResult {
        self.service.call_tool(params(name, args)).await.unwrap()
    }

    /// A call carrying `_meta["proem.dev/idempotency-key"]`.
    pub async fn call_idempotent(&self, name: &str, args: Value, key: &str) -> CallToolResult {
        let mut p = params(name, args);
        let mut meta = RequestMetaObject::new();
        meta.insert("proem.dev/idempotency-key".to_owned(), json!(key));
        p.meta = Some(meta);
        self.service.call_tool(p).await.unwrap()
    }

    /// A successful call's structured content.
    pub async fn ok(&self, name: &str, args: Value) -> Value {
        let result = self.call(name, args).await;
        assert_ne!(result.is_error, Some(true), "{name} failed: {result:?}");
        result.structured_content.unwrap()
    }

    /// A failed call's problem document, checked to carry `code`.
    pub async fn err(&self, name: &str, args: Value, code: &str) -> Value {
        let result = self.call(name, args).await;
        problem(&result, code)
    }

    pub async fn tools(&self) -> Vec<Tool> {
        self.service.list_all_tools().await.unwrap()
    }

    pub async fn tool_names(&self) -> Vec<String> {
        self.tools()
            .await
            .into_iter()
            .map(|t| t.name.to_string())
            .collect()
    }

    /// Waits for one more `notifications/tools/list_changed` than `seen`.
    pub async fn wait_tools_changed(&self, seen: usize) {
        for _ in 0..100 {
            if self.recorder.tools_changed.load(Ordering::SeqCst) > seen {
                return;
            }
            let _ =
                tokio::time::timeout(Duration::from_millis(50), self.recorder.changed.notified())
                    .await;
        }
        panic!("no tools/list_changed notification arrived");
    }
}

/// Checks that `result` is a failure whose problem document carries `code`; returns it.
pub fn problem(result: &CallToolResult, code: &str) -> Value {
    assert_eq!(result.is_error, Some(true), "expected {code}: {result:?}");
    let doc = result.structured_content.clone().unwrap();
    assert_eq!(doc["reason_code"], code, "{doc}");
    assert!(!doc["action_hint"].as_str().unwrap().is_empty());
    assert!(doc["type"].as_str().unwrap().contains("/problems/"));
    assert!(doc["request_id"].as_str().unwrap().starts_with("req_"));
    let text = result.content[0].as_text().unwrap().text.clone();
    assert!(text.contains(code), "the text carries the problem: {text}");
    doc
}

/// JSON-RPC over HTTP by hand, for what the rmcp client hides.
pub struct Raw {
    pub http: reqwest::Client,
    pub url: String,
    pub key: String,
    pub session: Option<String>,
}

impl Raw {
    pub fn post(&self, body: &Value) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .post(&self.url)
            .bearer_auth(&self.key)
            .header("accept", "application/json, text/event-stream")
            .json(body);
        if let Some(sid) = &self.session {
            request = request.header("mcp-session-id", sid);
        }
        request
    }

    /// initialize + notifications/initialized; keeps the session id.
    pub async fn initialize(&mut self, version: &str) -> Value {
        let response = self
            .post(&json!({
                "jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        self.session = response
            .headers()
            .get("mcp-session-id")
            .map(|v| v.to_str().unwrap().to_owned());
        let messages = read_messages(response).await;
        let done = self
            .post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .send()
            .await
            .unwrap();
        assert_eq!(done.status(), 202);
        messages.into_iter().last().unwrap()
    }

    /// One request; every message of the answer, in order.
    pub async fn request(&self, id: i64, method: &str, params: Value) -> Vec<Value> {
        let response = self
            .post(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{method}");
        read_messages(response).await
    }
}

/// The JSON-RPC messages of a JSON or SSE answer.
pub async fn read_messages(response: reqwest::Response) -> Vec<Value> {
    let sse = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap().starts_with("text/event-stream"));
    let text = response.text().await.unwrap();
    if !sse {
        return vec![serde_json::from_str(&text).unwrap()];
    }
    text.split("\n\n")
        .filter_map(|block| {
            let data: String = block
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            serde_json::from_str(&data).ok()
        })
        .collect()
}
