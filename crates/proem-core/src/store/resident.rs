//! The SQLite file's pages, kept mapped into this process, off the request path.
//!
//! Before its first token a run reads the prompt, its grants and its version, and its insert
//! walks the session table's b-trees. SQLite reads those pages with `pread` into each
//! connection's own cache, which it drops whenever another connection has committed (every run
//! commits), so each run reads them again from the kernel's page cache. The CI machine's
//! hypervisor pages out page cache that looks idle (DAMON reclaim, which samples memory by
//! regions of half a megabyte and more, so a hot page among cold ones goes with them), and the
//! next run waits 1.5–2 ms on the disk, in its reads or in its insert (README, Performance).
//! That reclaim leaves alone pages mapped into a process, as the kernel's own reclaim keeps
//! mapped pages longer than unmapped ones.
//!
//! So the background holds one read-only connection with SQLite's memory map over the file and
//! walks every page through it now and then ([`Store::keep_resident`]). Between walks that
//! connection starts no transaction, so its map stays as the walk left it, every page mapped.
//! A walk also reads back from the disk whatever was paged out before it, off the request path.
//! A page the checkpointer appends to the file after a walk is unmapped until the next one; it
//! was just written, and the reclaim only takes pages idle for a minute.
//!
//! The request path's own connections do not map the file: SQLite unmaps a connection's map
//! whenever another connection has committed, and every page the next statement touches then
//! faults in again, which made the run's reads ~50 µs slower.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::Connection;

use super::inline::open_reader;
use super::{Store, StoreError, StoreResult};

/// What a call of [`Store::keep_resident`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resident {
    /// Every page of the file, this many bytes, was read through the map.
    Mapped { bytes: u64 },
    /// The file is larger than the bound it was given: left to the page cache.
    TooLarge { bytes: u64 },
    /// PostgreSQL, or a SQLite database in memory: no file to map.
    NoFile,
}

/// The connection whose map holds the file's pages, opened by the first walk.
#[derive(Debug, Default)]
pub(crate) struct Mapped {
    conn: Mutex<Option<Connection>>,
}

impl Mapped {
    /// Reads every page of the file at `path` through the map, which covers up to `map_bytes`
    /// of it. A quick
    /// check is the walk: it reads every page of every b-tree and of the free list, and says
    /// whether they are sound while at it.
    fn walk(&self, path: &Path, map_bytes: u64) -> StoreResult<()> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| StoreError::Corrupt("the walk of the mapped file panicked".to_owned()))?;
        let conn = match conn.as_mut() {
            Some(conn) => conn,
            None => conn.insert(open_reader(path)?),
        };
        conn.execute_batch(&format!("PRAGMA mmap_size = {map_bytes}"))?;
        let verdict: String = conn.query_row("PRAGMA quick_check(1)", [], |r| r.get(0))?;
        if verdict != "ok" {
            tracing::error!(%verdict, "the SQLite file failed its quick check");
        }
        Ok(())
    }

    /// Closes the connection, and its map with it.
    fn release(&self) {
        if let Ok(mut conn) = self.conn.lock() {
            conn.take();
        }
    }
}

impl Store {
    /// SQLite files up to `up_to_bytes`: reads every page of the database through a memory map
    /// that stays in place until the next call, so the pages stay mapped (see the module's
    /// comment). Blocks a thread of the blocking pool for the walk: about 1 ms for the bench's
    /// 1 MB database on the CI machine, 55 ms for 93 MB.
    pub async fn keep_resident(&self, up_to_bytes: u64) -> StoreResult<Resident> {
        let Some(file) = self.inline.clone() else {
            return Ok(Resident::NoFile);
        };
        let bytes = std::fs::metadata(file.path()).map_or(0, |m| m.len());
        if bytes > up_to_bytes {
            // A file that has grown past the bound since the last walk is unmapped too.
            file.mapped().release();
            return Ok(Resident::TooLarge { bytes });
        }
        let walked =
            tokio::task::spawn_blocking(move || file.mapped().walk(file.path(), up_to_bytes))
                .await
                .map_err(|e| StoreError::Corrupt(format!("the walk of the mapped file: {e}")))?;
        walked.map(|()| Resident::Mapped { bytes })
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use proem_testkit::mapped_bytes;

    use super::*;
    use crate::Clock;

    /// Every page of the file mapped, give or take one: among the parallel tests, the map was
    /// once found a page short right after a complete walk (a page the kernel was moving, we
    /// think; it did not repeat in 15 runs of these tests).
    fn assert_mapped(path: &Path, size: u64) {
        let mapped = mapped_bytes(path);
        assert!(
            mapped <= size && mapped + 4096 >= size,
            "{mapped} bytes of {size} mapped"
        );
    }

    async fn store_with_rows(dir: &tempfile::TempDir) -> (Store, PathBuf) {
        let (store, path) = super::super::filled::filled_file(dir.path()).await;
        // Into the file, where the map reads them.
        let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(store.writer())
            .await
            .expect("checkpoint");
        assert_eq!(busy, 0, "the whole log is in the file");
        (store, path)
    }

    #[tokio::test]
    async fn a_walk_maps_every_page_of_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, path) = store_with_rows(&dir).await;
        let size = std::fs::metadata(&path).expect("file").len();
        assert!(size > 64 * 8192, "{size}");
        assert_eq!(mapped_bytes(&path), 0, "nothing maps the file before");

        let done = store.keep_resident(1 << 30).await.expect("walk");

        assert_eq!(done, Resident::Mapped { bytes: size });
        assert_mapped(&path, size);
    }

    #[tokio::test]
    async fn the_pages_stay_mapped_while_other_connections_commit() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, path) = store_with_rows(&dir).await;
        store.keep_resident(1 << 30).await.expect("walk");
        let size = std::fs::metadata(&path).expect("file").len();
        assert_mapped(&path, size);

        for _ in 0..8 {
            sqlx::query("INSERT INTO filler VALUES ('more')")
                .execute(store.writer())
                .await
                .expect("row");
        }
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM filler")
            .fetch_one(store.reader())
            .await
            .expect("read");

        assert_eq!(count, 72);
        assert_mapped(&path, size);
    }

    #[tokio::test]
    async fn a_file_past_the_bound_is_left_to_the_page_cache() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, path) = store_with_rows(&dir).await;
        let size = std::fs::metadata(&path).expect("file").len();

        let done = store.keep_resident(size - 1).await.expect("no walk");

        assert_eq!(done, Resident::TooLarge { bytes: size });
        assert_eq!(mapped_bytes(&path), 0);
    }

    #[tokio::test]
    async fn a_file_grown_past_the_bound_is_unmapped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, path) = store_with_rows(&dir).await;
        let size = std::fs::metadata(&path).expect("file").len();
        store.keep_resident(size).await.expect("walk");
        assert_mapped(&path, size);

        let done = store.keep_resident(size - 1).await.expect("no walk");

        assert_eq!(done, Resident::TooLarge { bytes: size });
        assert_eq!(mapped_bytes(&path), 0);
    }

    #[tokio::test]
    async fn a_database_in_memory_has_no_file_to_map() {
        let store = Store::connect("sqlite::memory:", Clock::system())
            .await
            .expect("store");

        assert_eq!(
            store.keep_resident(1 << 30).await.expect("nothing"),
            Resident::NoFile
        );
    }
}
