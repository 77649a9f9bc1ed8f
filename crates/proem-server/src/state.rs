//! Shared server state: configuration, the engine, the authenticator, the activity sink, metrics
//! and the tracked background tasks.

use std::sync::Arc;

use proem_core::auth::Authenticator;
use proem_core::blob::Blobs;
use proem_core::catalog::Catalog;
use proem_core::cursor::CursorSigner;
use proem_core::{Clock, Config, Engine, Store};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::background::{self, ActivitySink};
use crate::mcp::McpHub;
use crate::metrics::Metrics;

/// Cheap to clone; every handler gets one.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    public_url: Arc<str>,
    engine: Engine,
    auth: Authenticator,
    activity: ActivitySink,
    mcp: McpHub,
    metrics: Metrics,
    tasks: TaskTracker,
    stop: CancellationToken,
}

impl AppState {
    /// Opens the configured database (applying migrations) and blob store, and starts the
    /// background tasks.
    pub async fn open(config: Config, clock: Clock) -> Result<Self, String> {
        let url = config.effective_database_url();
        let store = Store::connect(&url, clock).await.map_err(|e| {
            format!(
                "cannot open database {}: {e}",
                proem_core::store::redact_url(&url)
            )
        })?;
        store.migrate().await.map_err(|e| e.to_string())?;
        let blobs = Blobs::open(&config.effective_blob_url())?;
        let cursor_key = match &config.secrets.cursor_key {
            Some(reference) => reference.resolve()?,
            // Generated once and kept in the database, so every instance signs alike.
            None => store
                .server_secret("cursor_key", || proem_core::keys::generate().plaintext)
                .await
                .map_err(|e| e.to_string())?,
        };
        let tasks = TaskTracker::new();
        let stop = CancellationToken::new();
        let catalog = Catalog::new(&config.providers, &|var| std::env::var(var).ok());
        let llm = proem_llm::LlmClient::new(config.upstream.timeouts());
        let describer = match &config.describer_model {
            Some(model_id) => Some(proem_core::describer::LlmDescriber::for_model(
                &catalog,
                llm.clone(),
                model_id,
            )?),
            None => None,
        };
        let engine = Engine {
            store,
            catalog: Arc::new(catalog),
            blobs,
            cursors: CursorSigner::new(cursor_key.into_bytes()),
            tasks: tasks.clone(),
            llm,
            describer,
        };
        let auth = Authenticator::default();
        let activity = background::start(engine.clone(), auth.clone(), &tasks, stop.clone());
        Ok(Self {
            inner: Arc::new(Inner {
                public_url: Arc::from(config.effective_public_url()),
                config,
                engine,
                auth,
                activity,
                mcp: McpHub::default(),
                metrics: Metrics::default(),
                tasks,
                stop,
            }),
        })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn public_url(&self) -> &Arc<str> {
        &self.inner.public_url
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub fn store(&self) -> &Store {
        &self.inner.engine.store
    }

    pub fn blobs(&self) -> &Blobs {
        &self.inner.engine.blobs
    }

    pub fn auth(&self) -> &Authenticator {
        &self.inner.auth
    }

    pub fn cursors(&self) -> &CursorSigner {
        &self.inner.engine.cursors
    }

    pub fn activity(&self) -> &ActivitySink {
        &self.inner.activity
    }

    /// Live MCP sessions: their keys and peers.
    pub fn mcp(&self) -> &McpHub {
        &self.inner.mcp
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Stops the background tasks after their last flush.
    pub async fn stop_background(&self) {
        self.inner.stop.cancel();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }
}
