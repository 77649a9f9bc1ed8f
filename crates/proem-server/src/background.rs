//! Background work, all on one tracked task set so shutdown waits for it: the batched writer of
//! activity rows (and of streamed responses' audit rows), the refresher of cached API keys in use,
//! and the janitor that sweeps expired rate windows, idempotency rows and stored MCP call results,
//! expires idle run sessions (the 1 h TTL reaper), hard-deletes records soft-deleted a day ago and
//! deletes image blobs that rewinds and deletes dropped; on SQLite, the upkeep of the file: its
//! write-ahead log checkpointed, its pages kept mapped.

use std::time::Duration;

use axum::body::Bytes;
use proem_core::auth::{Authenticator, REFRESH_EVERY};
use proem_core::store::{ActivityEntry, AuditEntry, Backend, Checkpoint, Resident};
use proem_core::{Engine, Store};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::middleware::guard::describe_fields;

/// Rows are written when this many are waiting, or after [`FLUSH_EVERY`].
const BATCH: usize = 256;
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Queue bound; past it, activity rows are dropped (and counted) rather than slowing requests.
const QUEUE: usize = 16_384;
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// How often the SQLite log's size is looked at, and the size past which it is checkpointed:
/// half of what makes SQLite checkpoint inside a commit (1,000 pages of 4 KiB), so that under
/// a steady load the background gets there first (see `store/wal.rs`).
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
const CHECKPOINT_PAST_BYTES: u64 = 2 * 1024 * 1024;
/// Every this many checkpoint rounds, the log is checkpointed whatever its size, and the file's
/// pages are walked through the background's map (see `store/resident.rs`): pages idle for a
/// minute may be reclaimed, so every page read on the request path should be in the file and
/// mapped well within that.
const UPKEEP_EVERY_ROUNDS: u32 = 30;
/// A log just restarted by a checkpoint: its header and one frame of a 4 KiB page (SQLite's
/// default page size, which Proem keeps). Anything more is new since.
const RESTARTED_LOG_BYTES: u64 = 32 + 24 + 4096;
/// Files past this size are left to the page cache: the walk reads every page (55 ms for 93 MB
/// on the CI machine, so ~0.3 s every 30 s at the bound), and the map counts in the process's
/// resident memory.
const RESIDENT_UP_TO_BYTES: u64 = 512 * 1024 * 1024;

/// A row for the writer.
#[derive(Debug)]
enum Row {
    Activity(ActivityEntry),
    /// An audit row whose `fields` are still to be described from the request's JSON body
    /// (`None`: not JSON, no fields).
    Audit(AuditEntry, Option<Bytes>),
}

/// Hands rows to the writer without waiting for the database.
#[derive(Clone, Debug)]
pub struct ActivitySink {
    tx: mpsc::Sender<Row>,
    tasks: TaskTracker,
}

impl ActivitySink {
    pub fn record(&self, entry: ActivityEntry) {
        if self.tx.try_send(Row::Activity(entry)).is_err() {
            tracing::warn!("activity queue full; dropping an activity row");
        }
    }

    /// Queues the audit row of a response that streams: written with the next batch, so neither
    /// the row nor the description of the body's fields delays the stream's first event. Unlike
    /// activity rows, audit rows are never dropped: with the queue full, a task waits for room.
    pub fn audit(&self, entry: AuditEntry, json_body: Option<Bytes>) {
        match self.tx.try_send(Row::Audit(entry, json_body)) {
            Ok(()) => {}
            Err(TrySendError::Full(row)) => {
                let tx = self.tx.clone();
                self.tasks.spawn(async move {
                    if tx.send(row).await.is_err() {
                        tracing::error!("the writer stopped; an audit row was not written");
                    }
                });
            }
            Err(TrySendError::Closed(_)) => {
                tracing::error!("the writer stopped; an audit row was not written");
            }
        }
    }
}

/// Starts the background tasks on `tasks`; they stop when `stop` is cancelled, after a last flush.
pub fn start(
    engine: Engine,
    auth: Authenticator,
    tasks: &TaskTracker,
    stop: CancellationToken,
) -> ActivitySink {
    let (tx, rx) = mpsc::channel(QUEUE);
    tasks.spawn(write_rows(engine.store.clone(), rx, stop.clone()));
    tasks.spawn(refresh_keys(auth, engine.store.clone(), stop.clone()));
    tasks.spawn(sqlite_upkeep(engine.store.clone(), stop.clone()));
    tasks.spawn(janitor(engine, stop));
    ActivitySink {
        tx,
        tasks: tasks.clone(),
    }
}

async fn write_rows(store: Store, mut rx: mpsc::Receiver<Row>, stop: CancellationToken) {
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

async fn flush(store: &Store, batch: &mut Vec<Row>) {
    let mut audit = Vec::new();
    let mut activity = Vec::with_capacity(batch.len());
    for row in batch.drain(..) {
        match row {
            Row::Activity(entry) => activity.push(entry),
            Row::Audit(mut entry, body) => {
                entry.fields = describe_fields(body.as_ref()).to_string();
                audit.push(entry);
            }
        }
    }
    if let Err(e) = store.write_trail_rows(&audit, &activity).await {
        tracing::error!(error = %e, audit = audit.len(), activity = activity.len(), "cannot write audit and activity rows");
    }
}

/// Keeps the keys in use fresh in the authenticator's cache (see [`Authenticator::refresh`]).
async fn refresh_keys(auth: Authenticator, store: Store, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(REFRESH_EVERY) => {}
            () = stop.cancelled() => return,
        }
        if let Err(e) = auth.refresh(&store).await {
            tracing::warn!(error = %e, "refreshing cached API keys failed");
        }
    }
}

/// Keeps the SQLite log short and appended to (see `store/wal.rs`), and the file's pages
/// mapped (`store/resident.rs`), starting with a walk; idle on PostgreSQL. One task for both, so
/// a checkpoint never waits for a walk's read.
async fn sqlite_upkeep(store: Store, stop: CancellationToken) {
    if store.backend() != Backend::Sqlite {
        return;
    }
    let mut round = 0_u32;
    loop {
        let upkeep = round.is_multiple_of(UPKEEP_EVERY_ROUNDS);
        let past = if upkeep {
            RESTARTED_LOG_BYTES
        } else {
            CHECKPOINT_PAST_BYTES
        };
        match store.checkpoint_wal(past).await {
            Ok(Checkpoint::Busy) => tracing::debug!("the log was busy; checkpointing next round"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "checkpointing the SQLite log failed"),
        }
        if upkeep {
            match store.keep_resident(RESIDENT_UP_TO_BYTES).await {
                Ok(Resident::TooLarge { bytes }) => {
                    tracing::debug!(bytes, "the database is too large to keep mapped");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "walking the mapped SQLite file failed"),
            }
        }
        round = round.wrapping_add(1);
        tokio::select! {
            () = tokio::time::sleep(CHECKPOINT_EVERY) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// Deletes expired rows, expires idle run sessions, hard-deletes records soft-deleted past their
/// grace period and deletes dropped image blobs. Every instance runs it; each step is an
/// idempotent conditional update or led by one instance.
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
        // Before the blob cleanup, so the images of the records it deletes go this round.
        if let Err(e) = engine.sweep_deleted_records().await {
            tracing::warn!(error = %e, "soft-deleted record sweep failed");
        }
        if let Err(e) = engine.clean_blobs().await {
            tracing::warn!(error = %e, "image blob cleanup failed");
        }
    }
}
