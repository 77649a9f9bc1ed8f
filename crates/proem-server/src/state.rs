//! Shared server state: configuration, the store, the blob store, the authenticator, the cursor
//! signer, the activity sink, metrics and the tracked background tasks.

use std::sync::Arc;

use proem_core::auth::Authenticator;
use proem_core::blob::Blobs;
use proem_core::cursor::CursorSigner;
use proem_core::{Clock, Config, Store};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::background::{self, ActivitySink};
use crate::metrics::Metrics;

/// Cheap to clone; every handler gets one.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    public_url: Arc<str>,
    store: Store,
    blobs: Blobs,
    auth: Authenticator,
    cursors: CursorSigner,
    activity: ActivitySink,
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
        let activity = background::start(store.clone(), &tasks, stop.clone());
        Ok(Self {
            inner: Arc::new(Inner {
                public_url: Arc::from(config.effective_public_url()),
                config,
                store,
                blobs,
                auth: Authenticator::default(),
                cursors: CursorSigner::new(cursor_key.into_bytes()),
                activity,
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

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn blobs(&self) -> &Blobs {
        &self.inner.blobs
    }

    pub fn auth(&self) -> &Authenticator {
        &self.inner.auth
    }

    pub fn cursors(&self) -> &CursorSigner {
        &self.inner.cursors
    }

    pub fn activity(&self) -> &ActivitySink {
        &self.inner.activity
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
