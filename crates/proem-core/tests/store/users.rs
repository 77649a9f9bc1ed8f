use proem_core::Clock;
use proem_testkit::TestDb;

#[tokio::test]
async fn created_user_is_found_by_email_case_insensitively_and_by_id() {
    let db = TestDb::new().await;
    let store = db.store(Clock::system()).await;
    let user = store
        .create_user(" Ada@Example.COM ", Some("Ada"))
        .await
        .unwrap();
    assert!(user.id.starts_with("usr_"));
    assert_eq!(user.email, "ada@example.com");
    assert_eq!(
        store.user_by_email("ADA@example.com").await.unwrap(),
        Some(user.clone())
    );
    assert_eq!(store.user_by_id(&user.id).await.unwrap(), Some(user));
    assert_eq!(
        store.user_by_email("nobody@example.com").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn duplicate_email_is_the_users_email_key_constraint() {
    let db = TestDb::new().await;
    let store = db.store(Clock::system()).await;
    store.create_user("a@example.com", None).await.unwrap();
    let err = store.create_user("A@example.com", None).await.unwrap_err();
    assert!(err.is_constraint("users_email_key"), "{err}");
}
