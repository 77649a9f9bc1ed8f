//! Key rotation with a grace period, and key material at rest: only SHA-256(key) is ever stored,
//! never the key, in the database files, the audit trail or the activity log.

use std::time::Duration;

use proem_core::store::ActivityFilter;
use proem_testkit::TestServer;
use serde_json::json;

use super::contract_support::{
    PROMPTS, get, ids, json_with, key_with_id, prompt_body, user_with_key_id, wait_for_activity,
};
use super::support::expect_problem;

const HOUR_MS: i64 = 3_600_000;

#[tokio::test]
async fn rotated_key_successor_keeps_the_scopes_and_grants() {
    let server = TestServer::start().await;
    let (user, old_id, old_key) = user_with_key_id(&server, &["read", "write"]).await;
    let granted = server.create_prompt(&old_key, "granted").await;
    server.create_prompt(&old_key, "other").await;
    server
        .state
        .store()
        .grant_prompt(&old_id, &granted)
        .await
        .unwrap();

    let (successor, new_key) = server
        .state
        .store()
        .rotate_key(&old_id, HOUR_MS)
        .await
        .unwrap()
        .unwrap();

    let old = server
        .state
        .store()
        .key_by_id(&old_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(successor.user_id, user.id);
    assert_eq!(successor.scopes, old.scopes);
    assert_eq!(successor.rotated_from.as_deref(), Some(old_id.as_str()));
    assert_ne!(new_key, old_key);
    assert_eq!(
        server
            .state
            .store()
            .key_grants(&successor.id)
            .await
            .unwrap(),
        vec![granted.clone()]
    );
    // The successor is restricted exactly like its predecessor.
    let page = json_with(get(&server, &new_key, PROMPTS).await, 200).await;
    assert_eq!(ids(&page), vec![granted]);
}

#[tokio::test]
async fn old_key_works_during_the_rotation_grace_and_is_key_unauthorized_after() {
    let server = TestServer::start().await;
    let (_, old_id, old_key) = user_with_key_id(&server, &["read"]).await;
    let (_, new_key) = server
        .state
        .store()
        .rotate_key(&old_id, HOUR_MS)
        .await
        .unwrap()
        .unwrap();

    assert_eq!(get(&server, &old_key, PROMPTS).await.status(), 200);
    assert_eq!(get(&server, &new_key, PROMPTS).await.status(), 200);
    server.clock.advance(Duration::from_secs(59 * 60));
    assert_eq!(get(&server, &old_key, PROMPTS).await.status(), 200);

    server.clock.advance(Duration::from_secs(2 * 60));
    expect_problem(
        get(&server, &old_key, PROMPTS).await,
        401,
        "key_unauthorized",
    )
    .await;
    assert_eq!(get(&server, &new_key, PROMPTS).await.status(), 200);
}

#[tokio::test]
async fn rotating_a_revoked_or_expired_key_issues_no_successor() {
    let server = TestServer::start().await;
    let (user, revoked, _) = user_with_key_id(&server, &["read"]).await;
    server.state.store().revoke_key(&revoked).await.unwrap();
    assert!(
        server
            .state
            .store()
            .rotate_key(&revoked, HOUR_MS)
            .await
            .unwrap()
            .is_none()
    );
    let (rotated, _) = key_with_id(&server, &user, &["read"]).await;
    server
        .state
        .store()
        .rotate_key(&rotated, 1_000)
        .await
        .unwrap()
        .unwrap();
    server.clock.advance(Duration::from_secs(2));
    assert!(
        server
            .state
            .store()
            .rotate_key(&rotated, HOUR_MS)
            .await
            .unwrap()
            .is_none()
    );
}

/// Every byte the server keeps: the SQLite files (database, WAL) and blobs under the test's
/// directory, or on PostgreSQL every table a request writes to.
async fn everything_stored(server: &TestServer) -> Vec<u8> {
    let mut out = Vec::new();
    for table in [
        "api_keys",
        "audit_log",
        "key_activity",
        "idempotency_keys",
        "key_grants",
        "rate_windows",
        "server_secrets",
        "prompts",
        "prompt_versions",
    ] {
        out.extend_from_slice(server.db.table_text(table).await.as_bytes());
    }
    if !server.db.is_postgres() {
        let mut dirs = vec![server.db.dir.path().to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    out.extend_from_slice(&std::fs::read(&path).unwrap());
                }
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn raw_key_is_never_stored_in_the_data_dir_audit_or_activity() {
    let server = TestServer::start().await;
    let (user, key_id, key) = user_with_key_id(&server, &["read", "write"]).await;
    let (_, other_id, other) = user_with_key_id(&server, &["read"]).await;

    // Key material through every door: both headers, a mismatch, an idempotent write, a refused
    // scope, a grant, a rotation and a revocation.
    let prompt = server.create_prompt(&key, "material").await;
    let r = server
        .http
        .get(server.at(PROMPTS))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = server
        .http
        .get(server.at(PROMPTS))
        .header("x-api-key", &key)
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    expect_problem(r, 400, "mixed_credentials_key_mismatch").await;
    let r = server
        .http
        .post(server.at(PROMPTS))
        .header("x-api-key", &key)
        .header("idempotency-key", "material-1")
        .json(&prompt_body(&server, "idempotent"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = server
        .http
        .patch(server.at(&format!("{PROMPTS}/{prompt}")))
        .header("x-api-key", &other)
        .json(&json!({"name": key}))
        .send()
        .await
        .unwrap();
    expect_problem(r, 403, "scope_required").await;
    server
        .state
        .store()
        .grant_prompt(&key_id, &prompt)
        .await
        .unwrap();
    assert_eq!(
        get(&server, &key, &format!("{PROMPTS}/{prompt}"))
            .await
            .status(),
        200
    );
    let (_, rotated) = server
        .state
        .store()
        .rotate_key(&key_id, HOUR_MS)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(get(&server, &rotated, PROMPTS).await.status(), 200);
    server.state.store().revoke_key(&other_id).await.unwrap();

    // 5 requests by `user` (the mismatch never authenticated), 1 by the other user.
    let rows = wait_for_activity(&server, &user.id, &ActivityFilter::default(), 5).await;
    assert_eq!(rows.len(), 5);

    let stored = everything_stored(&server).await;
    assert!(!stored.is_empty());
    for secret in [&key, &other, &rotated] {
        assert!(!contains(&stored, secret), "a raw key is stored");
        // Not even the random part without its prefix.
        assert!(!contains(&stored, &secret[4..]), "a raw key body is stored");
    }
    // What is stored instead: the SHA-256.
    let hash = proem_core::keys::KeyHash::of(&key).to_hex();
    assert!(contains(&stored, &hash));
}
