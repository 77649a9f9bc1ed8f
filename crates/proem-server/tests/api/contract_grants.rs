//! Per-prompt grants (spec "Per-prompt grants"): a key with no grants reaches every prompt of its
//! user; with one or more, only those (`grant_required`); removing the last grant makes it
//! unrestricted again. Another user's prompt is `prompt_not_found`, exactly like a missing id.
//! Grants are managed by people: the grant routes refuse every key (`api_key_not_permitted`).

use proem_testkit::TestServer;
use serde_json::{Value, json};

use super::contract_support::{PROMPTS, get, ids, json_with, key_with_id, user_with_key_id};
use super::support::expect_problem;

const ALL: &[&str] = &["read", "write"];

#[tokio::test]
async fn key_without_grants_reaches_every_prompt_of_its_user() {
    let server = TestServer::start().await;
    let (_, _, key) = user_with_key_id(&server, ALL).await;
    let a = server.create_prompt(&key, "a").await;
    let b = server.create_prompt(&key, "b").await;
    for id in [&a, &b] {
        assert_eq!(
            get(&server, &key, &format!("{PROMPTS}/{id}"))
                .await
                .status(),
            200
        );
    }
    let page = json_with(get(&server, &key, PROMPTS).await, 200).await;
    assert_eq!(ids(&page), vec![b, a]);
}

#[tokio::test]
async fn key_with_grants_reaches_only_granted_prompts_else_grant_required() {
    let server = TestServer::start().await;
    let (user, key_id, key) = user_with_key_id(&server, ALL).await;
    let granted = server.create_prompt(&key, "granted").await;
    let other = server.create_prompt(&key, "other").await;
    server
        .state
        .store()
        .grant_prompt(&key_id, &granted)
        .await
        .unwrap();

    assert_eq!(
        get(&server, &key, &format!("{PROMPTS}/{granted}"))
            .await
            .status(),
        200
    );
    let body = expect_problem(
        get(&server, &key, &format!("{PROMPTS}/{other}")).await,
        403,
        "grant_required",
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains(&other));
    // Writes are gated too.
    let r = server
        .http
        .patch(server.at(&format!("{PROMPTS}/{other}")))
        .header("x-api-key", &key)
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"name":"renamed"}"#)
        .send()
        .await
        .unwrap();
    expect_problem(r, 403, "grant_required").await;
    // Grants belong to the key, not the user: another key of the same user is unrestricted.
    let (_, sibling) = key_with_id(&server, &user, ALL).await;
    assert_eq!(
        get(&server, &sibling, &format!("{PROMPTS}/{other}"))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn removing_the_last_grant_makes_the_key_unrestricted_again() {
    let server = TestServer::start().await;
    let (_, key_id, key) = user_with_key_id(&server, ALL).await;
    let a = server.create_prompt(&key, "a").await;
    let b = server.create_prompt(&key, "b").await;
    let c = server.create_prompt(&key, "c").await;
    let store = server.state.store();
    store.grant_prompt(&key_id, &a).await.unwrap();
    store.grant_prompt(&key_id, &b).await.unwrap();
    let at = |id: &str| format!("{PROMPTS}/{id}");

    assert!(store.ungrant_prompt(&key_id, &a).await.unwrap());
    // Still restricted (to b): the grant list is re-checked on every call.
    expect_problem(get(&server, &key, &at(&a)).await, 403, "grant_required").await;
    expect_problem(get(&server, &key, &at(&c)).await, 403, "grant_required").await;
    assert_eq!(get(&server, &key, &at(&b)).await.status(), 200);

    assert!(store.ungrant_prompt(&key_id, &b).await.unwrap());
    for id in [&a, &b, &c] {
        assert_eq!(get(&server, &key, &at(id)).await.status(), 200, "{id}");
    }
    let page = json_with(get(&server, &key, PROMPTS).await, 200).await;
    assert_eq!(ids(&page), vec![c, b, a]);
}

#[tokio::test]
async fn revoking_a_grant_mid_workflow_refuses_the_next_call() {
    let server = TestServer::start().await;
    let (_, key_id, key) = user_with_key_id(&server, ALL).await;
    let a = server.create_prompt(&key, "a").await;
    let b = server.create_prompt(&key, "b").await;
    let store = server.state.store();
    store.grant_prompt(&key_id, &a).await.unwrap();
    store.grant_prompt(&key_id, &b).await.unwrap();
    let versions = format!("{PROMPTS}/{b}/versions");
    assert_eq!(get(&server, &key, &versions).await.status(), 200);
    store.ungrant_prompt(&key_id, &b).await.unwrap();
    expect_problem(get(&server, &key, &versions).await, 403, "grant_required").await;
}

#[tokio::test]
async fn list_prompts_for_a_restricted_key_shows_only_granted_prompts() {
    let server = TestServer::start().await;
    let (_, key_id, key) = user_with_key_id(&server, ALL).await;
    let a = server.create_prompt(&key, "a").await;
    server.create_prompt(&key, "b").await;
    let c = server.create_prompt(&key, "c").await;
    server
        .state
        .store()
        .grant_prompt(&key_id, &a)
        .await
        .unwrap();
    server
        .state
        .store()
        .grant_prompt(&key_id, &c)
        .await
        .unwrap();

    let page = json_with(get(&server, &key, PROMPTS).await, 200).await;
    assert_eq!(ids(&page), vec![c.clone(), a.clone()]);
    // Paging a restricted list visits only granted prompts too.
    let first = json_with(get(&server, &key, &format!("{PROMPTS}?limit=1")).await, 200).await;
    assert_eq!(ids(&first), vec![c]);
    let cursor = first["nextCursor"].as_str().unwrap();
    let second = json_with(
        get(&server, &key, &format!("{PROMPTS}?limit=1&cursor={cursor}")).await,
        200,
    )
    .await;
    assert_eq!(ids(&second), vec![a]);
    assert!(second.get("nextCursor").is_none());
}

/// A problem document without what differs per request: its request id, and the id in the detail.
fn comparable(mut problem: Value, id: &str) -> Value {
    problem["request_id"] = Value::Null;
    let detail = problem["detail"].as_str().unwrap().replace(id, "{id}");
    problem["detail"] = json!(detail);
    problem
}

#[tokio::test]
async fn another_users_prompt_is_prompt_not_found_exactly_like_a_missing_id() {
    let server = TestServer::start().await;
    let (_, _, owner) = user_with_key_id(&server, ALL).await;
    let (_, _, stranger) = user_with_key_id(&server, ALL).await;
    let theirs = server.create_prompt(&owner, "theirs").await;
    let missing = proem_core::ids::new_id(proem_core::ids::PROMPT);

    let other = expect_problem(
        get(&server, &stranger, &format!("{PROMPTS}/{theirs}")).await,
        404,
        "prompt_not_found",
    )
    .await;
    let absent = expect_problem(
        get(&server, &stranger, &format!("{PROMPTS}/{missing}")).await,
        404,
        "prompt_not_found",
    )
    .await;
    assert_eq!(comparable(other, &theirs), comparable(absent, &missing));

    // The same for a key restricted to one of its own prompts: the grant check comes after
    // ownership, so it reveals nothing about other users' ids.
    let (stranger_user, _) = server.user_with_key(ALL).await;
    let (restricted_id, restricted) = key_with_id(&server, &stranger_user, ALL).await;
    let own = server.create_prompt(&restricted, "own").await;
    server
        .state
        .store()
        .grant_prompt(&restricted_id, &own)
        .await
        .unwrap();
    let other = expect_problem(
        get(
            &server,
            &restricted,
            &format!("{PROMPTS}/{theirs}/versions"),
        )
        .await,
        404,
        "prompt_not_found",
    )
    .await;
    let absent = expect_problem(
        get(
            &server,
            &restricted,
            &format!("{PROMPTS}/{missing}/versions"),
        )
        .await,
        404,
        "prompt_not_found",
    )
    .await;
    assert_eq!(comparable(other, &theirs), comparable(absent, &missing));
}

#[tokio::test]
async fn grant_routes_with_a_key_are_api_key_not_permitted() {
    let server = TestServer::start().await;
    let (_, key_id, key) = user_with_key_id(&server, &["*"]).await;
    let path = server.at(&format!("/api/v2/keys/{key_id}/grants"));
    for method in [
        reqwest::Method::GET,
        reqwest::Method::POST,
        reqwest::Method::DELETE,
    ] {
        let r = server
            .http
            .request(method.clone(), &path)
            .header("x-api-key", &key)
            .json(&json!({"promptId": "prm_x"}))
            .send()
            .await
            .unwrap();
        expect_problem(r, 403, "api_key_not_permitted").await;
    }
    // Nothing was granted.
    assert!(
        server
            .state
            .store()
            .key_grants(&key_id)
            .await
            .unwrap()
            .is_empty()
    );
}
