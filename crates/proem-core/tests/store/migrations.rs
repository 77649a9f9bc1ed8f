use proem_core::{Clock, Store};
use proem_testkit::TestDb;

#[tokio::test]
async fn migrations_apply_once_and_rerun_as_a_no_op() {
    let db = TestDb::new().await;
    let store = Store::connect(&db.url, Clock::system()).await.unwrap();
    assert!(store.migrate().await.unwrap() >= 1);
    let version = store.schema_version().await.unwrap();
    assert_eq!(store.migrate().await.unwrap(), 0);
    assert_eq!(store.schema_version().await.unwrap(), version);
}

#[tokio::test]
async fn concurrent_migrations_from_two_processes_apply_each_migration_once() {
    let db = TestDb::new().await;
    let a = Store::connect(&db.url, Clock::system()).await.unwrap();
    let b = Store::connect(&db.url, Clock::system()).await.unwrap();
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    let applied = ra.unwrap() + rb.unwrap();
    assert_eq!(
        i64::try_from(applied).unwrap(),
        a.schema_version().await.unwrap()
    );
}

#[tokio::test]
async fn ping_answers_on_a_migrated_store() {
    let db = TestDb::new().await;
    db.store(Clock::system()).await.ping().await.unwrap();
}
