//! Reads on the calling thread, for the embedded shape (SQLite). sqlx runs every SQLite statement
//! on its connection's worker thread, and each statement is a hand-off there and back: two thread
//! wake-ups. A run's reads before its provider call are all time to first token; through the pool
//! they took ~210 µs (p50, two statements side by side, 2-vCPU VM), on a read-only connection in
//! place ~85 µs, and the run's added time to first token fell by ~11% (README, Performance).
//! In WAL mode a reader never waits for the writer, so the calling thread blocks for the read
//! alone. Writes stay on the sqlx write pool, SQLite's one writer queued there.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::StoreResult;

/// Idle connections kept for reuse; more are opened when needed and closed after.
const IDLE_CAP: usize = 8;
/// A reader waits only while SQLite recovers its WAL index after a crash.
const BUSY_TIMEOUT: Duration = Duration::from_millis(250);

#[derive(Debug)]
pub(crate) struct InlineReader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl InlineReader {
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
        })
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

    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_url_gets_a_reader_and_an_in_memory_one_does_not() {
        let file = InlineReader::for_url("sqlite:///var/lib/proem/proem.db?mode=rwc");
        assert_eq!(
            file.map(|r| r.path),
            Some(PathBuf::from("/var/lib/proem/proem.db"))
        );
        for url in [
            "sqlite::memory:",
            "sqlite://:memory:",
            "sqlite://db?mode=memory",
        ] {
            assert!(InlineReader::for_url(url).is_none(), "{url}");
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
        let reader = InlineReader::for_url(&format!("sqlite://{}", path.display())).expect("file");
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
}
