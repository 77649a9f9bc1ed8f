//! The SQL store: one dialect (portable types, `$N` placeholders, epoch-millisecond times, ids and
//! JSON as TEXT) over SQLite and PostgreSQL through sqlx `Any`. Backend-specific SQL appears only
//! where PostgreSQL offers something the design needs, each behind one small function.

mod activity;
pub mod attachments;
pub mod cleanup;
#[cfg(test)]
mod filled;
pub mod grants;
mod idempotency;
mod inline;
mod keys;
pub mod mcp;
mod migrate;
pub mod prompts;
mod ratelimit;
pub mod records;
mod resident;
pub mod runs;
mod secrets;
mod users;
mod wal;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

use crate::Clock;
use crate::ratelimit::LocalWindows;

pub use activity::{ActivityEntry, ActivityFilter, ActivityStats, AuditEntry};
pub use idempotency::{Begin, IDEMPOTENCY_TTL_MS, IdemKey, StoredResponse};
pub use keys::{KeyRecord, KeyStatus, NewKeySpec};
pub use resident::Resident;
pub use users::User;
pub use wal::Checkpoint;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached (pool timeout, connection refused, I/O).
    #[error("database unavailable: {0}")]
    Unavailable(sqlx::Error),
    /// A unique or foreign-key constraint refused the write; carries the constraint's name
    /// (PostgreSQL) or the message naming the column (SQLite).
    #[error("constraint violated: {0}")]
    Constraint(String),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// A statement on the calling thread failed (SQLite only, see `inline.rs`).
    #[error("database error: {0}")]
    Inline(#[from] rusqlite::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("unsupported database url `{0}`: use sqlite://path or postgres://…")]
    UnsupportedUrl(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                StoreError::Unavailable(e)
            }
            sqlx::Error::Database(db)
                if db.is_unique_violation() || db.is_foreign_key_violation() =>
            {
                StoreError::Constraint(
                    db.constraint()
                        .map(str::to_owned)
                        .unwrap_or_else(|| db.message().to_owned()),
                )
            }
            _ => StoreError::Database(e),
        }
    }
}

impl StoreError {
    /// A statement in place failed: constraint violations read as they do through the pool.
    pub(crate) fn from_inline(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::Constraint(e.to_string()),
            _ => StoreError::Inline(e),
        }
    }

    /// Whether another connection held the lock a statement in place needed.
    pub(crate) fn is_busy(&self) -> bool {
        use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
        matches!(self, StoreError::Inline(e) if matches!(e.sqlite_error_code(), Some(DatabaseBusy | DatabaseLocked)))
    }

    /// Whether the database could not be reached or stayed busy: worth a retry later.
    pub fn is_unavailable(&self) -> bool {
        use rusqlite::ErrorCode::{CannotOpen, DatabaseBusy, DatabaseLocked};
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Inline(e) => matches!(
                e.sqlite_error_code(),
                Some(DatabaseBusy | DatabaseLocked | CannotOpen)
            ),
            _ => false,
        }
    }

    /// Whether this is a constraint violation naming `needle` (a constraint or column name).
    pub fn is_constraint(&self, needle: &str) -> bool {
        matches!(self, StoreError::Constraint(c) if c.contains(needle))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A write transaction.
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Handle to the database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    /// Pool for reads.
    read: AnyPool,
    /// Pool for writes. On SQLite it holds one connection: SQLite has one writer anyway, and
    /// queueing in the pool avoids `SQLITE_BUSY` upgrades between our own connections.
    write: AnyPool,
    backend: Backend,
    clock: Clock,
    /// Rate windows in this process, for the embedded shape (SQLite: one server process);
    /// `None` on PostgreSQL, where every instance counts in the database.
    local_windows: Option<Arc<LocalWindows>>,
    /// Statements on the calling thread for the run path (SQLite files only; see `inline.rs`).
    inline: Option<Arc<inline::InPlace>>,
}

impl Store {
    /// Connects to `url` (`sqlite://path` or `postgres://…`). A SQLite file and its folder are
    /// created when missing. Does not migrate; call [`Store::migrate`].
    pub async fn connect(url: &str, clock: Clock) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(redact_url(url)));
        };
        match backend {
            Backend::Sqlite => {
                let url = sqlite_url(url)?;
                let inline = inline::InPlace::for_url(&url).map(Arc::new);
                let options = AnyConnectOptions::from_str(&url)?;
                let write = sqlite_pool(1).connect_with(options.clone()).await?;
                let read = sqlite_pool(8).connect_with(options).await?;
                Ok(Self {
                    read,
                    write,
                    backend,
                    clock,
                    local_windows: Some(Arc::default()),
                    inline,
                })
            }
            Backend::Postgres => {
                let options = AnyConnectOptions::from_str(url)?;
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?;
                Ok(Self {
                    read: pool.clone(),
                    write: pool,
                    backend,
                    clock,
                    local_windows: None,
                    inline: None,
                })
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub(crate) fn reader(&self) -> &AnyPool {
        &self.read
    }

    pub(crate) fn inline(&self) -> Option<&inline::InPlace> {
        self.inline.as_deref()
    }

    pub(crate) fn writer(&self) -> &AnyPool {
        &self.write
    }

    /// A connection from the write pool, outside any transaction (each statement commits on its
    /// own), for work that must share one connection.
    pub async fn write_connection(&self) -> StoreResult<sqlx::pool::PoolConnection<sqlx::Any>> {
        Ok(self.write.acquire().await?)
    }

    /// Starts a write transaction.
    pub async fn begin(&self) -> StoreResult<Tx> {
        Ok(self.write.begin().await?)
    }

    /// A transaction in which this instance is the one leader of background job `job` (a
    /// transaction-scoped advisory lock on PostgreSQL; SQLite has one writer, so always). `None`
    /// when another instance leads it right now.
    pub async fn lead(&self, job: i64) -> StoreResult<Option<Tx>> {
        let mut tx = self.write.begin().await?;
        if self.backend == Backend::Postgres {
            let (leader,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_xact_lock($1)")
                .bind(job)
                .fetch_one(&mut *tx)
                .await?;
            if !leader {
                tx.rollback().await?;
                return Ok(None);
            }
        }
        Ok(Some(tx))
    }

    /// Whether the database answers a trivial query (readiness).
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    /// Closes both pools, waiting for connections to be returned.
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }
}

/// How long a pool connection waits for another process's lock (e.g. `proem admin` while a
/// server runs).
const WRITER_BUSY_WAIT_MS: u32 = 10_000;

fn sqlite_pool(max: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(30))
        // A local file's connection cannot go stale; the default ping before every acquire
        // would double the round trips of every statement.
        .test_before_acquire(false)
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                // WAL lets readers run beside the writer; the busy timeout covers writers in other
                // processes (e.g. `proem admin` while a server runs).
                conn.execute("PRAGMA journal_mode = WAL").await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "PRAGMA busy_timeout = {WRITER_BUSY_WAIT_MS}"
                )))
                .execute(&mut *conn)
                .await?;
                conn.execute("PRAGMA foreign_keys = ON").await?;
                conn.execute("PRAGMA synchronous = NORMAL").await?;
                Ok(())
            })
        })
}

/// Ensures the SQLite file's folder exists and the URL opens read-write-create.
fn sqlite_url(url: &str) -> StoreResult<String> {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = rest.split('?').next().unwrap_or(rest);
    if let Some(dir) = std::path::Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Migration(format!(
                "cannot create database folder {}: {e}",
                dir.display()
            ))
        })?;
    }
    Ok(if url.contains('?') {
        url.to_owned()
    } else {
        format!("{url}?mode=rwc")
    })
}

/// A database URL safe to print: the password is replaced.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}
