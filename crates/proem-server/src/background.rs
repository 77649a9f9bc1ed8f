//! Background work, all on one tracked task set so shutdown waits for it: the batched activity
//! writer and the janitor that sweeps expired rate windows, idempotency rows and stored MCP call
//! results, and expires idle run sessions (the 1 h TTL reaper).

use std::time::Duration;

use proem_core::store::ActivityEntry;
use proem_core::{Engine, Store};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Rows are written when this many are waiting, or after [`FLUSH_EVERY`].
const BATCH: usize = 256;
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Queue bound; past it, activity rows are dropped (and counted) rather than slowing requests.
const QUEUE: usize = 16_384;
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Hands activity rows to the writer without waiting for the database.
#[derive(Clone, Debug)]
pub struct ActivitySink {
    tx: mpsc::Sender<ActivityEntry>,
}

impl ActivitySink {
    pub fn record(&self, entry: ActivityEntry) {
        if self.tx.try_send(entry).is_err() {
            tracing::warn!("activity queue full; dropping an activity row");
        }
    }
}

/// Starts the background tasks on `tasks`; they stop when `stop` is cancelled, after a last flush.
pub fn start(engine: Engine, tasks: &TaskTracker, stop: CancellationToken) -> ActivitySink {
    let (tx, rx) = mpsc::channel(QUEUE);
    tasks.spawn(write_activity(engine.store.clone(), rx, stop.clone()));
    tasks.spawn(janitor(engine, stop));
    ActivitySink { tx }
}

async fn write_activity(
    store: Store,
    mut rx: mpsc::Receiver<ActivityEntry>,
    stop: CancellationToken,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let received = tokio::select! {
            n = rx.recv_many(&mut batch, BATCH) => n,
            () = stop.cancelled() => 0,
        };
        if received == 0 {
            // Stopping (or every sender is gone): write what is queued, then end.
            rx.close();
            while let Ok(e) = rx.try_recv() {
                batch.push(e);
            }
            flush(&store, &mut batch).await;
            return;
        }
        if batch.len() < BATCH {
            // Let a burst gather into one transaction.
            tokio::select! {
                () = tokio::time::sleep(FLUSH_EVERY) => {}
                () = stop.cancelled() => {}
            }
            while batch.len() < BATCH
                && let Ok(e) = rx.try_recv()
            {
                batch.push(e);
            }
        }
        flush(&store, &mut batch).await;
    }
}

async fn flush(store: &Store, batch: &mut Vec<ActivityEntry>) {
    if let Err(e) = store.write_activity(batch).await {
        tracing::error!(error = %e, rows = batch.len(), "cannot write activity rows");
    }
    batch.clear();
}

/// Deletes expired rows and expires idle run sessions. Every instance runs it; each step is an
/// idempotent conditional update, so no leader is needed.
async fn janitor(engine: Engine, stop: CancellationToken) {
    let store = &engine.store;
    loop {
        tokio::select! {
            () = tokio::time::sleep(SWEEP_EVERY) => {}
            () = stop.cancelled() => return,
        }
        if let Err(e) = store.sweep_rate_windows().await {
            tracing::warn!(error = %e, "rate-window sweep failed");
        }
        if let Err(e) = store.sweep_idempotency().await {
            tracing::warn!(error = %e, "idempotency sweep failed");
        }
        if let Err(e) = store.sweep_mcp_calls().await {
            tracing::warn!(error = %e, "MCP call-result sweep failed");
        }
        if let Err(e) = engine.expire_sessions().await {
            tracing::warn!(error = %e, "run-session expiry failed");
        }
    }
}
