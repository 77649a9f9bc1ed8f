//! Key authentication at the edge of `/api`.

use proem_testkit::TestServer;

use super::support::expect_problem;

const PROMPTS: &str = "/api/v2/public/prompts";

async fn status_with(server: &TestServer, key: &str) -> reqwest::Response {
    server
        .http
        .get(server.at(PROMPTS))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn valid_key_passes_authentication() {
    let server = TestServer::start().await;
    let (_, key) = server.user_with_key(&["read"]).await;
    let r = status_with(&server, &key).await;
    assert_eq!(r.status(), 200);
    let r = server
        .http
        .get(server.at(PROMPTS))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn same_key_in_x_api_key_and_bearer_is_accepted() {
    let server = TestServer::start().await;
    let (_, key) = server.user_with_key(&["read"]).await;
    let r = server
        .http
        .get(server.at(PROMPTS))
        .header("x-api-key", &key)
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn malformed_key_is_key_unauthorized_in_either_header() {
    let server = TestServer::start().await;
    let (_, key) = server.user_with_key(&["read"]).await;
    let truncated = &key[..key.len() - 1];
    let with_space = format!("{} {}", &key[..10], &key[10..]);
    for malformed in [
        "",
        "pmk_",
        "not-a-key",
        "sk_live_123",
        truncated,
        &with_space,
    ] {
        expect_problem(
            status_with(&server, malformed).await,
            401,
            "key_unauthorized",
        )
        .await;
        let r = server
            .http
            .get(server.at(PROMPTS))
            .header("authorization", format!("Bearer {malformed}"))
            .send()
            .await
            .unwrap();
        expect_problem(r, 401, "key_unauthorized").await;
    }
}

#[tokio::test]
async fn key_with_a_bad_checksum_is_key_unauthorized() {
    let server = TestServer::start().await;
    let (_, key) = server.user_with_key(&["read"]).await;
    let mut broken: Vec<char> = key.chars().collect();
    let i = broken.len() - 1;
    broken[i] = if broken[i] == 'A' { 'B' } else { 'A' };
    let broken: String = broken.into_iter().collect();
    expect_problem(status_with(&server, &broken).await, 401, "key_unauthorized").await;
}

#[tokio::test]
async fn unknown_well_formed_key_is_key_unauthorized() {
    let server = TestServer::start().await;
    let never_issued = proem_core::keys::generate().plaintext;
    expect_problem(
        status_with(&server, &never_issued).await,
        401,
        "key_unauthorized",
    )
    .await;
}

#[tokio::test]
async fn malformed_authorization_header_is_key_unauthorized() {
    let server = TestServer::start().await;
    let r = server
        .http
        .get(server.at(PROMPTS))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    expect_problem(r, 401, "key_unauthorized").await;
}

#[tokio::test]
async fn revoked_key_is_key_unauthorized_within_one_second() {
    let server = TestServer::start().await;
    let (user, key) = server.user_with_key(&["read"]).await;
    assert_ne!(status_with(&server, &key).await.status(), 401);
    let id = server.state.store().list_keys(&user.id).await.unwrap()[0]
        .id
        .clone();
    server.state.store().revoke_key(&id).await.unwrap();
    // The auth cache may trust the key for at most CACHE_TTL; after that, it must be refused.
    tokio::time::sleep(proem_core::auth::CACHE_TTL).await;
    expect_problem(status_with(&server, &key).await, 401, "key_unauthorized").await;
}

#[tokio::test]
async fn expired_key_is_key_unauthorized() {
    let server = TestServer::start().await;
    let (user, _) = server.user_with_key(&["read"]).await;
    let scopes = vec!["read".to_owned()];
    let (_, key) = server
        .state
        .store()
        .create_key(proem_core::store::NewKeySpec {
            user_id: &user.id,
            name: "short",
            scopes: &scopes,
            expires_at: Some(server.clock.now_ms() + 60_000),
            rotated_from: None,
        })
        .await
        .unwrap();
    assert_ne!(status_with(&server, &key).await.status(), 401);
    server.clock.advance(std::time::Duration::from_secs(120));
    expect_problem(status_with(&server, &key).await, 401, "key_unauthorized").await;
}

#[tokio::test]
async fn two_different_keys_in_both_headers_are_mixed_credentials_key_mismatch() {
    let server = TestServer::start().await;
    let (_, a) = server.user_with_key(&["read"]).await;
    let (_, b) = server.user_with_key(&["read"]).await;
    let r = server
        .http
        .get(server.at(PROMPTS))
        .header("x-api-key", a)
        .bearer_auth(b)
        .send()
        .await
        .unwrap();
    expect_problem(r, 400, "mixed_credentials_key_mismatch").await;
}
