use std::time::Duration;

use proem_api::ReasonCode;
use proem_core::auth::{Authenticator, CACHE_TTL};
use proem_core::keys::{self, KeyHash};
use proem_core::store::{KeyStatus, NewKeySpec};
use proem_core::{Clock, Store};
use proem_testkit::TestDb;

async fn user_and_key(store: &Store, expires_at: Option<i64>) -> (String, String) {
    let user = store
        .create_user(&format!("{}@k.test", uuid_like()), None)
        .await
        .unwrap();
    let scopes = vec!["read".to_owned(), "prompts:*".to_owned()];
    let (record, plaintext) = store
        .create_key(NewKeySpec {
            user_id: &user.id,
            name: "ci",
            scopes: &scopes,
            expires_at,
            rotated_from: None,
        })
        .await
        .unwrap();
    (record.id, plaintext)
}

fn uuid_like() -> String {
    keys::generate().plaintext[4..20].to_lowercase()
}

#[tokio::test]
async fn key_is_found_by_its_sha256_and_keeps_its_scopes() {
    let db = TestDb::new().await;
    let store = db.store(Clock::system()).await;
    let (id, plaintext) = user_and_key(&store, None).await;
    let hash = keys::parse(&plaintext).unwrap();
    let (record, stored) = store.key_by_hash(&hash).await.unwrap().unwrap();
    assert_eq!(record.id, id);
    assert_eq!(stored, hash);
    assert_eq!(record.scopes, vec!["read", "prompts:*"]);
    assert_eq!(record.display_prefix, &plaintext[..12]);
    assert_eq!(
        store.key_by_hash(&KeyHash::of("pmk_other")).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn only_the_hash_of_a_key_is_stored() {
    let db = TestDb::new().await;
    let store = db.store(Clock::system()).await;
    let (id, plaintext) = user_and_key(&store, None).await;
    let (stored_hash, prefix): (String, String) =
        sqlx::query_as("SELECT key_hash, display_prefix FROM api_keys WHERE id = $1")
            .bind(&id)
            .fetch_one(&sqlx::AnyPool::connect(&db.url).await.unwrap())
            .await
            .unwrap();
    assert_eq!(stored_hash, KeyHash::of(&plaintext).to_hex());
    assert!(!stored_hash.contains(&plaintext[4..]));
    assert_eq!(prefix.len(), 12);
    if !db.is_postgres() {
        store.close().await;
        let mut haystack = Vec::new();
        for entry in std::fs::read_dir(db.dir.path()).unwrap() {
            haystack.extend(std::fs::read(entry.unwrap().path()).unwrap());
        }
        let needle = plaintext.as_bytes();
        assert!(
            !haystack.windows(needle.len()).any(|w| w == needle),
            "plaintext key found on disk"
        );
    }
}

#[tokio::test]
async fn revoked_key_reports_revoked_and_revoking_twice_keeps_the_first_time() {
    let db = TestDb::new().await;
    let store = db.store(Clock::system()).await;
    let (id, _) = user_and_key(&store, None).await;
    assert!(store.revoke_key(&id).await.unwrap());
    let first = store.key_by_id(&id).await.unwrap().unwrap().revoked_at;
    assert!(store.revoke_key(&id).await.unwrap());
    let key = store.key_by_id(&id).await.unwrap().unwrap();
    assert_eq!(key.revoked_at, first);
    assert_eq!(key.status(store.now_ms()), KeyStatus::Revoked);
    assert!(!store.revoke_key("key_missing").await.unwrap());
}

#[tokio::test]
async fn key_expires_at_its_expiry_time() {
    let db = TestDb::new().await;
    let clock = Clock::system();
    let store = db.store(clock.clone()).await;
    let (id, _) = user_and_key(&store, Some(store.now_ms() + 60_000)).await;
    let key = store.key_by_id(&id).await.unwrap().unwrap();
    assert_eq!(key.status(store.now_ms()), KeyStatus::Active);
    clock.advance(Duration::from_secs(61));
    assert_eq!(key.status(store.now_ms()), KeyStatus::Expired);
}

#[tokio::test]
async fn keys_are_listed_per_user_oldest_first() {
    let db = TestDb::new().await;
    let store = db.store(Clock::system()).await;
    let (first, _) = user_and_key(&store, None).await;
    let owner = store.key_by_id(&first).await.unwrap().unwrap().user_id;
    let scopes = vec!["write".to_owned()];
    let (second, _) = store
        .create_key(NewKeySpec {
            user_id: &owner,
            name: "second",
            scopes: &scopes,
            expires_at: None,
            rotated_from: None,
        })
        .await
        .unwrap();
    user_and_key(&store, None).await;
    let ids: Vec<String> = store
        .list_keys(&owner)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(ids, vec![first, second.id]);
}

#[tokio::test]
async fn refresh_rereads_a_cached_key_in_use_so_its_revocation_is_seen_before_the_ttl() {
    let db = TestDb::new().await;
    let store = db.store(Clock::system()).await;
    let (id, plaintext) = user_and_key(&store, None).await;
    let auth = Authenticator::default();
    auth.authenticate(&store, &plaintext).await.unwrap();
    // Used after its read, and half its TTL old: due.
    auth.authenticate(&store, &plaintext).await.unwrap();
    tokio::time::sleep(CACHE_TTL / 2).await;
    assert!(store.revoke_key(&id).await.unwrap());
    assert_eq!(auth.refresh(&store).await.unwrap(), 1);
    let refused = auth.authenticate(&store, &plaintext).await.unwrap_err();
    assert_eq!(refused.code(), ReasonCode::KeyUnauthorized);
}

#[tokio::test]
async fn refresh_leaves_a_cached_key_nobody_used_since_its_read() {
    let db = TestDb::new().await;
    let store = db.store(Clock::system()).await;
    let (_, plaintext) = user_and_key(&store, None).await;
    let auth = Authenticator::default();
    auth.authenticate(&store, &plaintext).await.unwrap();
    tokio::time::sleep(CACHE_TTL / 2).await;
    assert_eq!(auth.refresh(&store).await.unwrap(), 0);
}
