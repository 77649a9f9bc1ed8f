//! Statements on the calling thread, for the embedded shape (SQLite): the reads a run makes before
//! its first token, and its session row. sqlx runs every SQLite statement on its connection's
//! worker thread, and each statement is a hand-off there and back: two thread wake-ups, and on a
//! busy machine the woken worker takes the caller's core while it runs (ftrace on the 2-vCPU CI
//! machine: 120–280 µs of the caller's time for one insert; README, Performance).
//! In WAL mode a reader never waits for the writer, so the calling thread blocks for the read
//! alone. A write in place runs only while the caller holds the write pool's one connection, so
//! no other writer of this process is in the way; another process's write makes it fail at once
//! (busy) rather than wait on this thread, and the caller writes through the pool instead.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use sqlx::Any;
use sqlx::pool::PoolConnection;

use super::resident::Mapped;
use super::{StoreError, StoreResult};

/// Idle connections kept for reuse; more are opened when needed and closed after.
const IDLE_CAP: usize = 8;
/// A reader waits only while SQLite recovers its WAL index after a crash.
const BUSY_TIMEOUT: Duration = Duration::from_millis(250);

/// This process's own connections to a SQLite file, for statements on the calling thread:
/// read-only ones for reads, and one for writes in place.
#[derive(Debug)]
pub(crate) struct InPlace {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// The connection for writes in place, opened on first use.
    writer: Mutex<Option<Connection>>,
    /// The background's map of the file (see `resident.rs`).
    mapped: Mapped,
}

impl InPlace {
    /// A reader of the SQLite file behind `url`; `None` for an in-memory database, which only
    /// the connection that made it can see.
    pub fn for_url(url: &str) -> Option<Self> {
        let rest = url
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:");
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let in_memory = path.is_empty() || path == ":memory:" || query.contains("mode=memory");
        (!in_memory).then(|| Self {
            path: Path::new(path).to_path_buf(),
            idle: Mutex::default(),
            writer: Mutex::default(),
            mapped: Mapped::default(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn mapped(&self) -> &Mapped {
        &self.mapped
    }

    /// Runs `read` here, on an idle connection or on a new one when all are in use.
    pub fn read<T>(&self, read: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> StoreResult<T> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        let result = read(&conn);
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < IDLE_CAP
        {
            idle.push(conn);
        }
        Ok(result?)
    }

    /// Runs `write` here. `_held` is the write pool's connection, which the caller holds for the
    /// duration: SQLite's one writer is then this call. A write that meets another process's lock
    /// fails with [`StoreError::is_busy`] without waiting, and changes nothing.
    pub fn write<T>(
        &self,
        _held: &PoolConnection<Any>,
        write: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> StoreResult<T> {
        let mut writer = self
            .writer
            .lock()
            .map_err(|_| StoreError::Corrupt("the in-place writer panicked".to_owned()))?;
        let conn = match writer.take() {
            Some(conn) => conn,
            None => self.open_writer()?,
        };
        let result = write(&conn).map_err(StoreError::from_inline);
        *writer = Some(conn);
        result
    }

    fn open_writer(&self) -> rusqlite::Result<Connection> {
        let conn = open_read_write(&self.path)?;
        // Checkpoints stay with the background (`wal.rs`), off this thread.
        conn.execute_batch(
            "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0;",
        )?;
        Ok(conn)
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        open_reader(&self.path)
    }
}

/// A read-write connection to the file at `path`, for use on one thread at a time, that never
/// waits for a lock: a statement that meets one fails at once as busy.
pub(super) fn open_read_write(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::ZERO)?;
    Ok(conn)
}

/// A read-only connection to the file at `path`, for use on one thread at a time.
pub(super) fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_url_gets_a_reader_and_an_in_memory_one_does_not() {
        let file = InPlace::for_url("sqlite:///var/lib/proem/proem.db?mode=rwc");
        assert_eq!(
            file.map(|r| r.path),
            Some(PathBuf::from("/var/lib/proem/proem.db"))
        );
        for url in [
            "sqlite::memory:",
            "sqlite://:memory:",
            "sqlite://db?mode=memory",
        ] {
            assert!(InPlace::for_url(url).is_none(), "{url}");
        }
    }

    #[test]
    fn a_busy_database_is_unavailable_and_a_bad_statement_is_not() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("t.db");
        let writer = Connection::open(&path).expect("open");
        writer
            .execute_batch("PRAGMA journal_mode = DELETE; CREATE TABLE t (x INTEGER); BEGIN EXCLUSIVE; INSERT INTO t VALUES (1);")
            .expect("lock");
        let reader = InPlace::for_url(&format!("sqlite://{}", path.display())).expect("file");
        let busy = reader
            .read(|c| c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0)))
            .expect_err("the exclusive lock keeps readers out");
        assert!(busy.is_unavailable(), "{busy}");
        writer.execute_batch("COMMIT").expect("commit");
        assert_eq!(
            reader
                .read(|c| c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0)))
                .expect("read after the commit"),
            1
        );
        let bad = reader
            .read(|c| c.query_row("SELECT nope FROM t", [], |r| r.get::<_, i64>(0)))
            .expect_err("no such column");
        assert!(!bad.is_unavailable(), "{bad}");
    }

    #[tokio::test]
    async fn a_write_in_place_meets_another_writer_as_busy_and_changes_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("t.db");
        let other = Connection::open(&path).expect("open");
        other
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER PRIMARY KEY);")
            .expect("schema");
        let url = format!("sqlite://{}", path.display());
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.expect("pool");
        let held = pool.acquire().await.expect("write connection");
        let in_place = InPlace::for_url(&url).expect("file");
        let insert = |c: &Connection| c.execute("INSERT INTO t VALUES (1)", []);

        other.execute_batch("BEGIN IMMEDIATE").expect("lock");
        let busy = in_place
            .write(&held, insert)
            .expect_err("another writer holds the lock");
        assert!(busy.is_busy(), "{busy}");
        other.execute_batch("COMMIT").expect("unlock");
        let count =
            |c: &Connection| c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0));
        assert_eq!(in_place.read(count).expect("read"), 0);

        assert_eq!(in_place.write(&held, insert).expect("written"), 1);
        assert_eq!(in_place.read(count).expect("read"), 1);
        let duplicate = in_place.write(&held, insert).expect_err("primary key");
        assert!(duplicate.is_constraint("t.x"), "{duplicate}");
        assert!(!duplicate.is_busy());
    }
}
