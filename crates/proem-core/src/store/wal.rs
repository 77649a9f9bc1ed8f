//! Checkpoints of the SQLite write-ahead log, off the request path.
//!
//! Left to itself, SQLite checkpoints inside the commit that takes the log past 1,000 pages and
//! then writes the log again from its start, over blocks written one cycle earlier. A WAL frame
//! is a page plus a 24-byte header, so nearly every commit writes part of a block, and the
//! kernel reads a block it no longer caches before writing part of it: on the CI machine, whose
//! hypervisor reclaims page cache that has been idle for some seconds, one run in ten waited
//! 0.3 to 1.5 ms for such reads while inserting its session row (perf: `pwrite64` asleep in
//! `ext4_block_write_begin`; README, "Performance"). A log truncated to nothing after each
//! checkpoint is only ever appended to, into blocks that are new. Truncating in the commit
//! that restarts the log (`journal_size_limit = 0`) moved 1–3 ms of freeing blocks into a
//! run's insert instead, so the background does it. It copies the log into the database first,
//! on a connection of its own and without the write lock, while runs keep committing; then it
//! truncates on the write connection, where a run that writes meanwhile waits for the
//! connection rather than for the disk under its lock, and only for what was added since.
//!
//! The first commit into a restarted log also syncs the log's header to disk (SQLite does so
//! in every mode but `synchronous = OFF`, lest a later write overtake it). The background
//! makes that commit too, a write of `user_version` with its own value (Proem does not use
//! it otherwise), so that the sync is not some run's.

use std::path::{Path, PathBuf};

use super::inline::open_read_write;
use super::{Store, StoreError, StoreResult, WRITER_BUSY_WAIT_MS};

/// How long the checkpoint waits for a reader still on the log, or for another process's
/// writer, before it gives up for this round (the write connection is held meanwhile).
const BUSY_WAIT_MS: u32 = 200;

/// What a checkpoint round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checkpoint {
    /// The log was smaller than the threshold (or this is not a SQLite file): nothing done.
    NotDue,
    /// Every frame was copied into the database, the log truncated, and restarted with one
    /// frame.
    Restarted,
    /// A reader or another process kept the log busy; what could be copied was, and the next
    /// round tries again.
    Busy,
}

impl Store {
    /// SQLite files: when the log has grown past `past_bytes`, copies it into the database,
    /// truncates it and restarts it. PostgreSQL and in-memory SQLite: nothing to do.
    pub async fn checkpoint_wal(&self, past_bytes: u64) -> StoreResult<Checkpoint> {
        let Some(file) = self.inline().map(|f| f.path().to_path_buf()) else {
            return Ok(Checkpoint::NotDue);
        };
        // A missing log is an empty one: SQLite creates it with the first write.
        let size = std::fs::metadata(log_of(&file)).map_or(0, |m| m.len());
        if size <= past_bytes {
            return Ok(Checkpoint::NotDue);
        }
        // Most of the work (copying the pages into the database and syncing it: 5–10 ms for a
        // 2 MiB log under the bench's load on the CI machine) needs no write lock: done first,
        // runs keep committing meanwhile, and the truncation under the lock copies only what
        // they added since.
        tokio::task::spawn_blocking(move || copy_log(&file))
            .await
            .map_err(|e| StoreError::Corrupt(format!("the log's copy: {e}")))??;
        let mut conn = self.writer().acquire().await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "PRAGMA busy_timeout = {BUSY_WAIT_MS}"
        )))
        .execute(&mut *conn)
        .await?;
        let result = truncate_and_restart(&mut conn).await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "PRAGMA busy_timeout = {WRITER_BUSY_WAIT_MS}"
        )))
        .execute(&mut *conn)
        .await?;
        result
    }
}

/// The write-ahead log of the database `file`.
fn log_of(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Copies the log's frames into the database and syncs it, on a connection of its own and
/// without SQLite's write lock (a passive checkpoint: it copies what it can and never waits).
fn copy_log(file: &Path) -> StoreResult<()> {
    let conn = open_read_write(file).map_err(StoreError::from_inline)?;
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
        .map_err(StoreError::from_inline)
}

async fn truncate_and_restart(conn: &mut sqlx::AnyConnection) -> StoreResult<Checkpoint> {
    let (busy, _log_frames, _copied_frames): (i64, i64, i64) =
        sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&mut *conn)
            .await?;
    if busy != 0 {
        return Ok(Checkpoint::Busy);
    }
    let (version,): (i64,) = sqlx::query_as("PRAGMA user_version")
        .fetch_one(&mut *conn)
        .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "PRAGMA user_version = {version}"
    )))
    .execute(&mut *conn)
    .await?;
    Ok(Checkpoint::Restarted)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAL_HEADER: u64 = 32;
    const FRAME_HEADER: u64 = 24;

    async fn page_size(store: &Store) -> u64 {
        let (size,): (i64,) = sqlx::query_as("PRAGMA page_size")
            .fetch_one(store.reader())
            .await
            .expect("page size");
        u64::try_from(size).expect("a page size")
    }

    /// The store, its database file and its log.
    async fn store_with_log(dir: &tempfile::TempDir) -> (Store, PathBuf, PathBuf) {
        let (store, file) = super::super::filled::filled_file(dir.path()).await;
        let wal = log_of(&file);
        (store, file, wal)
    }

    #[tokio::test]
    async fn a_log_past_its_threshold_is_checkpointed_truncated_and_restarted() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, _, wal) = store_with_log(&dir).await;
        let before = std::fs::metadata(&wal).expect("log").len();
        assert!(before > 512 * 1024, "the fill wrote {before} bytes of log");

        let round = store.checkpoint_wal(512 * 1024).await.expect("checkpoint");

        assert_eq!(round, Checkpoint::Restarted);
        // The header and the one frame the restart wrote; the next commit appends.
        assert_eq!(
            std::fs::metadata(&wal).expect("log").len(),
            WAL_HEADER + FRAME_HEADER + page_size(&store).await
        );
        let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM filler")
            .fetch_one(store.reader())
            .await
            .expect("count");
        assert_eq!(rows, 64, "every row survived the checkpoint");
    }

    #[tokio::test]
    async fn a_checkpoint_copies_the_log_before_it_takes_the_write_connection() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, file, _) = store_with_log(&dir).await;
        let db_bytes = || std::fs::metadata(&file).expect("database").len();
        let before = db_bytes();
        // What a run's insert holds while it writes: the checkpoint must not need it to copy.
        let held = store
            .writer()
            .acquire()
            .await
            .expect("the write connection");

        let checkpoint = tokio::spawn({
            let store = store.clone();
            async move { store.checkpoint_wal(0).await }
        });
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while db_bytes() < before + 64 * 8192 && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }

        assert!(
            db_bytes() >= before + 64 * 8192,
            "the rows reached the database file while a writer held the connection ({} bytes)",
            db_bytes()
        );
        assert!(
            !checkpoint.is_finished(),
            "the truncation waits for the connection"
        );
        drop(held);
        let round = checkpoint.await.expect("task").expect("checkpoint");
        assert_eq!(round, Checkpoint::Restarted);
    }

    #[tokio::test]
    async fn a_log_under_its_threshold_is_left_alone() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, _, wal) = store_with_log(&dir).await;
        let before = std::fs::metadata(&wal).expect("log").len();

        let round = store.checkpoint_wal(before).await.expect("checkpoint");

        assert_eq!(round, Checkpoint::NotDue);
        assert_eq!(std::fs::metadata(&wal).expect("log").len(), before);
    }

    #[tokio::test]
    async fn a_log_a_reader_holds_is_busy_and_keeps_the_writer_usable() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, file, wal) = store_with_log(&dir).await;
        let reader = rusqlite::Connection::open(file).expect("reader");
        reader
            .execute_batch("BEGIN; SELECT COUNT(*) FROM filler;")
            .expect("a read transaction on the log");

        let round = store.checkpoint_wal(0).await.expect("checkpoint");

        assert_eq!(round, Checkpoint::Busy);
        assert!(std::fs::metadata(&wal).expect("log").len() > 0);
        let mut conn = store.writer().acquire().await.expect("writer");
        let (timeout,): (i64,) = sqlx::query_as("PRAGMA busy_timeout")
            .fetch_one(&mut *conn)
            .await
            .expect("busy timeout");
        assert_eq!(timeout, i64::from(WRITER_BUSY_WAIT_MS));
        drop(conn);
        reader.execute_batch("COMMIT").expect("end the read");
        assert_eq!(
            store.checkpoint_wal(0).await.expect("checkpoint"),
            Checkpoint::Restarted
        );
    }
}
