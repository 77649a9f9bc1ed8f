//! A real Proem server on `127.0.0.1:0`, with its own database and data dir.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use proem_core::catalog::ProviderConfig;

use proem_core::store::{NewKeySpec, User};
use proem_core::{Clock, Config};
use proem_server::AppState;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::TestDb;

pub struct TestServer {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub state: AppState,
    pub clock: Clock,
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    handle: Option<JoinHandle<std::io::Result<()>>>,
    pub db: TestDb,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts a server after `adjust` has changed the test config.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let db = TestDb::new().await;
        Self::start_on(db, adjust).await
    }

    /// Starts a server on an existing test database (e.g. a second instance on the same one).
    pub async fn start_on(db: TestDb, adjust: impl FnOnce(&mut Config)) -> Self {
        let clock = Clock::system();
        let running = launch(&db, clock.clone(), adjust).await;
        let server = Self {
            addr: running.addr,
            url: running.url,
            state: running.state,
            clock,
            http: running.http,
            shutdown: running.shutdown,
            handle: Some(running.handle),
            db,
        };
        server.wait_ready().await;
        server
    }

    /// Another instance of the deployment: a second `AppState` and server on this server's
    /// database and data dir, sharing its clock, on a new port. The database stays owned by
    /// `self`, so dropping the instance never drops it.
    pub async fn second_instance(&self, adjust: impl FnOnce(&mut Config)) -> Instance {
        let running = launch(&self.db, self.clock.clone(), adjust).await;
        let instance = Instance {
            addr: running.addr,
            url: running.url,
            state: running.state,
            http: running.http,
            shutdown: running.shutdown,
            handle: Some(running.handle),
        };
        wait_ready(&instance.http, &instance.url).await;
        instance
    }

    async fn wait_ready(&self) {
        wait_ready(&self.http, &self.url).await;
    }

    /// `url` + `path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// A new user with a key holding `scopes`.
    pub async fn user_with_key(&self, scopes: &[&str]) -> (User, String) {
        let email = format!("{}@example.test", uuid::Uuid::new_v4().simple());
        let user = self
            .state
            .store()
            .create_user(&email, None)
            .await
            .expect("create user");
        let key = self.key_for(&user, scopes).await;
        (user, key)
    }

    /// Another key for `user`.
    pub async fn key_for(&self, user: &User, scopes: &[&str]) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        let (_, plaintext) = self
            .state
            .store()
            .create_key(NewKeySpec {
                user_id: &user.id,
                name: "test",
                scopes: &scopes,
                expires_at: None,
                rotated_from: None,
            })
            .await
            .expect("create key");
        plaintext
    }

    /// `{ "model_id": <the test model>, "parameters": {} }`
    pub fn model_settings(&self) -> serde_json::Value {
        serde_json::json!({ "model_id": test_model_id(), "parameters": {} })
    }

    /// Creates a prompt through the API with `key`; returns its id.
    pub async fn create_prompt(&self, key: &str, name: &str) -> String {
        let response = self
            .http
            .post(self.at("/api/v2/public/prompts"))
            .header("x-api-key", key)
            .json(&serde_json::json!({
                "name": name,
                "promptText": "Summarize the input in three bullets.",
                "modelSettings": self.model_settings(),
            }))
            .send()
            .await
            .expect("create prompt");
        assert_eq!(
            response.status(),
            201,
            "create prompt: {}",
            response.text().await.unwrap_or_default()
        );
        let body: serde_json::Value = response.json().await.expect("json");
        body["promptId"].as_str().expect("promptId").to_owned()
    }

    /// Runs one SQL statement on the test database (for setting up states the API cannot reach
    /// quickly, such as a nearly full storage quota).
    pub async fn sql(&self, statement: &str) {
        use sqlx::Executor;
        let pool = sqlx::AnyPool::connect(&self.db.url)
            .await
            .expect("connect test db");
        pool.execute(sqlx::AssertSqlSafe(statement.to_owned()))
            .await
            .expect("test sql");
        pool.close().await;
    }

    /// Files under the blob store's folder.
    pub fn blob_files(&self) -> Vec<std::path::PathBuf> {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.state.config().data_dir.join("blobs"), &mut out);
        out
    }

    /// Stops the server, letting in-flight requests finish; returns what `serve` returned.
    pub async fn stop(mut self) -> std::io::Result<()> {
        self.shutdown.cancel();
        match self.handle.take() {
            Some(handle) => handle.await.expect("server task"),
            None => Ok(()),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A second server on a [`TestServer`]'s database; see [`TestServer::second_instance`].
pub struct Instance {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub state: AppState,
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    handle: Option<JoinHandle<std::io::Result<()>>>,
}

impl Instance {
    /// `url` + `path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Stops this instance, letting in-flight requests finish; returns what `serve` returned.
    pub async fn stop(mut self) -> std::io::Result<()> {
        self.shutdown.cancel();
        match self.handle.take() {
            Some(handle) => handle.await.expect("server task"),
            None => Ok(()),
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A server task serving an `AppState` opened on `db`.
struct Running {
    addr: SocketAddr,
    url: String,
    state: AppState,
    http: reqwest::Client,
    shutdown: CancellationToken,
    handle: JoinHandle<std::io::Result<()>>,
}

async fn launch(db: &TestDb, clock: Clock, adjust: impl FnOnce(&mut Config)) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let mut config = Config {
        listen: addr,
        data_dir: db.dir.path().join("data"),
        database_url: db.url.clone(),
        providers: test_providers(),
        ..Config::default()
    };
    adjust(&mut config);
    let state = AppState::open(config, clock).await.expect("open state");
    let shutdown = CancellationToken::new();
    let handle = tokio::spawn(proem_server::serve(
        state.clone(),
        listener,
        shutdown.clone(),
    ));
    Running {
        addr,
        url: format!("http://{addr}"),
        state,
        http: reqwest::Client::new(),
        shutdown,
        handle,
    }
}

async fn wait_ready(http: &reqwest::Client, url: &str) {
    for _ in 0..200 {
        if let Ok(r) = http.get(format!("{url}/readyz")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("server at {url} never became ready");
}

/// Name of the provider every test server is configured with.
pub const TEST_PROVIDER: &str = "fake";
/// Wire name of the test model.
pub const TEST_MODEL: &str = "fake-model";

/// The `model_id` of the test model.
pub fn test_model_id() -> String {
    proem_core::catalog::model_id(TEST_PROVIDER, TEST_MODEL)
}

/// One OpenAI-compatible provider with one text model whose parameters cover each schema kind:
/// `style` (enum plain|fancy), `max_tokens` (integer 1–4096), `temperature` (number 0–2),
/// `stream_usage` (boolean). Its base URL points nowhere until a fake upstream is started.
pub fn test_providers() -> BTreeMap<String, ProviderConfig> {
    let toml = r#"
        kind = "openai_chat"
        base_url = "http://127.0.0.1:9/v1"
        [[models]]
        name = "fake-model"
        display_name = "Fake model"
        input_modalities = ["text", "image"]
        input_millicents_per_mtok = 100000
        output_millicents_per_mtok = 400000
        recommended = { style = "plain" }
        [models.parameters.style]
        type = "enum"
        values = ["plain", "fancy"]
        provider_default = "plain"
        [models.parameters.max_tokens]
        type = "integer"
        min = 1
        max = 4096
        [models.parameters.temperature]
        type = "number"
        min = 0
        max = 2
        [models.parameters.stream_usage]
        type = "boolean"
    "#;
    let provider: ProviderConfig = toml::from_str(toml).expect("test provider config");
    BTreeMap::from([(TEST_PROVIDER.to_owned(), provider)])
}
