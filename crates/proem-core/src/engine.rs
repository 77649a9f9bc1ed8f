//! The engine: what every door (REST, MCP, CLI through REST) calls. It holds the store, the model
//! catalog, the blob store, the cursor signer and the tracked task set for background jobs.

use std::sync::Arc;

use futures::future::BoxFuture;
use tokio_util::task::TaskTracker;

use crate::Store;
use crate::blob::Blobs;
use crate::catalog::Catalog;
use crate::cursor::CursorSigner;

/// Writes the one-sentence capability description of a prompt (spec v1.3 "descriptionMode").
pub trait Describer: Send + Sync {
    fn describe<'a>(&'a self, prompt_text: &'a str) -> BoxFuture<'a, Description>;
}

/// What one describer call returned, and what it used: every upstream call is in the usage log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    pub sentence: Result<String, String>,
    /// The catalog id of the model called.
    pub model_id: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// Whether the provider will have billed the call (it produced output).
    pub charged: bool,
}

#[derive(Clone)]
pub struct Engine {
    pub store: Store,
    pub catalog: Arc<Catalog>,
    pub blobs: Blobs,
    pub cursors: CursorSigner,
    pub tasks: TaskTracker,
    /// The pooled upstream client every run shares.
    pub llm: proem_llm::LlmClient,
    /// Regenerates Auto-mode descriptions; none configured means they are left as they are.
    pub describer: Option<Arc<dyn Describer>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.store)
            .field("models", &self.catalog.models().len())
            .field("describer", &self.describer.is_some())
            .finish_non_exhaustive()
    }
}
