//! Test support: a SQLite file whose log holds half a megabyte of rows, for the tests of what
//! the background does to the file (`wal.rs`, `resident.rs`).

use std::path::{Path, PathBuf};

use super::Store;
use crate::Clock;

/// A store on a new file in `dir`, with a `filler` table of 64 rows of 8 KiB, all still in the
/// write-ahead log. Returns the store and the database file's path.
pub(crate) async fn filled_file(dir: &Path) -> (Store, PathBuf) {
    let path = dir.join("filled.db");
    let store = Store::connect(&format!("sqlite://{}", path.display()), Clock::system())
        .await
        .expect("store");
    let mut conn = store.writer().acquire().await.expect("writer");
    sqlx::query("CREATE TABLE filler (body TEXT)")
        .execute(&mut *conn)
        .await
        .expect("table");
    for _ in 0..64 {
        sqlx::query("INSERT INTO filler VALUES ($1)")
            .bind("x".repeat(8192))
            .execute(&mut *conn)
            .await
            .expect("row");
    }
    drop(conn);
    (store, path)
}
