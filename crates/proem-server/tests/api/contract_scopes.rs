//! Scopes (spec "Authentication"): `read`, `execute` and `write` are checked literally, and the
//! resource scopes of the permission table (`prompts:read`, `prompts:*`, `*`) decide the same way.

use proem_testkit::TestServer;

use super::contract_support::{ACTIVITY, MODELS, PROMPTS, STATS, get, prompt_body};
use super::support::expect_problem;

/// `POST /prompts` with `key`.
async fn create(server: &TestServer, key: &str) -> reqwest::Response {
    server
        .http
        .post(server.at(PROMPTS))
        .header("x-api-key", key)
        .json(&prompt_body(server, "scoped"))
        .send()
        .await
        .unwrap()
}

/// Asserts a `scope_required` whose detail names `scope`.
async fn expect_scope_required(response: reqwest::Response, scope: &str) {
    let body = expect_problem(response, 403, "scope_required").await;
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("`{scope}`")), "{detail}");
}

#[tokio::test]
async fn execute_only_key_cannot_list_prompts_scope_required() {
    let server = TestServer::start().await;
    let (_, key) = server.user_with_key(&["execute"]).await;
    expect_scope_required(get(&server, &key, PROMPTS).await, "read").await;
}

#[tokio::test]
async fn write_only_key_cannot_read_prompts_scope_required() {
    let server = TestServer::start().await;
    let (_, key) = server.user_with_key(&["write"]).await;
    let id = server.create_prompt(&key, "written").await;
    expect_scope_required(get(&server, &key, PROMPTS).await, "read").await;
    expect_scope_required(get(&server, &key, &format!("{PROMPTS}/{id}")).await, "read").await;
    expect_scope_required(get(&server, &key, MODELS).await, "read").await;
}

#[tokio::test]
async fn read_only_key_cannot_create_prompts_scope_required() {
    let server = TestServer::start().await;
    let (_, key) = server.user_with_key(&["read"]).await;
    expect_scope_required(create(&server, &key).await, "write").await;
    let (_, both) = server.user_with_key(&["read", "execute"]).await;
    expect_scope_required(create(&server, &both).await, "write").await;
}

#[tokio::test]
async fn read_scope_reaches_prompts_models_and_activity() {
    let server = TestServer::start().await;
    let (_, key) = server.user_with_key(&["read"]).await;
    for path in [PROMPTS, MODELS, ACTIVITY, STATS] {
        assert_eq!(get(&server, &key, path).await.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn resource_scope_prompts_read_lists_prompts_but_cannot_write_them() {
    let server = TestServer::start().await;
    let (_, key) = server.user_with_key(&["prompts:read"]).await;
    assert_eq!(get(&server, &key, PROMPTS).await.status(), 200);
    expect_scope_required(create(&server, &key).await, "prompts:write").await;
    // A resource scope does not leak to other resources.
    expect_scope_required(get(&server, &key, MODELS).await, "models:read").await;
}

#[tokio::test]
async fn resource_wildcard_prompts_star_reads_and_writes_prompts_only() {
    let server = TestServer::start().await;
    let (_, key) = server.user_with_key(&["prompts:*"]).await;
    assert_eq!(create(&server, &key).await.status(), 201);
    assert_eq!(get(&server, &key, PROMPTS).await.status(), 200);
    expect_scope_required(get(&server, &key, MODELS).await, "read").await;
    expect_scope_required(get(&server, &key, ACTIVITY).await, "read").await;
}

#[tokio::test]
async fn star_scope_reaches_every_key_route() {
    let server = TestServer::start().await;
    let (_, key) = server.user_with_key(&["*"]).await;
    assert_eq!(create(&server, &key).await.status(), 201);
    for path in [PROMPTS, MODELS, ACTIVITY, STATS] {
        assert_eq!(get(&server, &key, path).await.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn scopes_of_other_resources_do_not_reach_prompts() {
    let server = TestServer::start().await;
    let (_, key) = server
        .user_with_key(&["records:*", "models:read", "attachments:read"])
        .await;
    assert_eq!(get(&server, &key, MODELS).await.status(), 200);
    expect_scope_required(get(&server, &key, PROMPTS).await, "prompts:read").await;
    expect_scope_required(create(&server, &key).await, "prompts:write").await;
}

#[tokio::test]
async fn scope_names_are_matched_literally_not_by_case_or_prefix() {
    let server = TestServer::start().await;
    for near_miss in ["READ", "reader", "prompts", "prompts:read:extra", "*:*"] {
        let (_, key) = server.user_with_key(&[near_miss]).await;
        expect_problem(get(&server, &key, PROMPTS).await, 403, "scope_required").await;
    }
}
