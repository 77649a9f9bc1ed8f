//! The background's upkeep of the embedded database (`background.rs`, `store/resident.rs`).

use std::time::Duration;

use proem_testkit::{TestServer, mapped_bytes};

#[tokio::test]
async fn a_sqlite_server_maps_its_database_file_from_its_start() {
    let server = TestServer::start().await;
    let file = server.db.dir.path().join("proem.db");
    if server.db.is_postgres() {
        // No file of ours: the upkeep stays idle.
        assert_eq!(mapped_bytes(&file), 0);
        return;
    }
    // The first round walks the file at once, on the blocking pool.
    let mut mapped = 0;
    for _ in 0..100 {
        mapped = mapped_bytes(&file);
        if mapped > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let size = std::fs::metadata(&file).unwrap().len();
    assert!(mapped > 0, "the database file is not mapped");
    assert!(mapped <= size, "{mapped} of {size}");
}
