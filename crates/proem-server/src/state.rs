//! Shared server state: configuration, the store, the blob store, the authenticator and metrics.

use std::sync::Arc;

use proem_core::auth::Authenticator;
use proem_core::blob::Blobs;
use proem_core::{Clock, Config, Store};

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
    metrics: Metrics,
}

impl AppState {
    /// Opens the configured database (applying migrations) and blob store.
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
        Ok(Self::new(config, store, blobs))
    }

    pub fn new(config: Config, store: Store, blobs: Blobs) -> Self {
        Self {
            inner: Arc::new(Inner {
                public_url: Arc::from(config.effective_public_url()),
                config,
                store,
                blobs,
                auth: Authenticator::default(),
                metrics: Metrics::default(),
            }),
        }
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

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }
}
