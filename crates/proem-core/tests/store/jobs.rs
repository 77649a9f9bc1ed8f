use proem_core::Clock;
use proem_testkit::TestDb;

#[tokio::test]
async fn only_one_instance_leads_a_background_job_at_a_time() {
    let db = TestDb::new().await;
    let a = db.store(Clock::system()).await;
    let b = db.store(Clock::system()).await;
    let held = a.lead(7).await.unwrap();
    assert!(held.is_some());
    if db.is_postgres() {
        assert!(
            b.lead(7).await.unwrap().is_none(),
            "a second instance must not lead while the first does"
        );
        assert!(
            b.lead(8).await.unwrap().is_some(),
            "another job has its own leader"
        );
    }
    // The lock ends with the leader's transaction.
    held.unwrap().rollback().await.unwrap();
    let again = b.lead(7).await.unwrap();
    assert!(again.is_some());
}
