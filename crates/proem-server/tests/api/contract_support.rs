//! Helpers shared by the contract tests (issue 3): keys with their ids, request shorthands, a fresh
//! rate window, and a bounded wait for the batched activity rows.

use std::time::Duration;

use proem_core::Clock;
use proem_core::store::{ActivityEntry, ActivityFilter, NewKeySpec, User};
use proem_testkit::TestServer;
use reqwest::Response;
use serde_json::{Value, json};

pub const PROMPTS: &str = "/api/v2/public/prompts";
pub const MODELS: &str = "/api/v2/public/models";
pub const ACTIVITY: &str = "/api/settings/api-keys/activity";
pub const STATS: &str = "/api/settings/api-keys/activity/stats";

/// A new key for `user`: `(key id, plaintext)`.
pub async fn key_with_id(server: &TestServer, user: &User, scopes: &[&str]) -> (String, String) {
    key_expiring(server, user, scopes, None).await
}

/// A new key for `user` that expires at `expires_at` (epoch ms): `(key id, plaintext)`.
pub async fn key_expiring(
    server: &TestServer,
    user: &User,
    scopes: &[&str],
    expires_at: Option<i64>,
) -> (String, String) {
    let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
    let (record, plaintext) = server
        .state
        .store()
        .create_key(NewKeySpec {
            user_id: &user.id,
            name: "contract",
            scopes: &scopes,
            expires_at,
            rotated_from: None,
        })
        .await
        .unwrap();
    (record.id, plaintext)
}

/// A new user with one key: `(user, key id, plaintext)`.
pub async fn user_with_key_id(server: &TestServer, scopes: &[&str]) -> (User, String, String) {
    let email = format!("{}@example.test", uuid::Uuid::new_v4().simple());
    let user = server
        .state
        .store()
        .create_user(&email, None)
        .await
        .unwrap();
    let (id, key) = key_with_id(server, &user, scopes).await;
    (user, id, key)
}

/// A valid `POST /prompts` body.
pub fn prompt_body(server: &TestServer, name: &str) -> Value {
    json!({
        "name": name,
        "promptText": "Summarize the input in three bullets.",
        "modelSettings": server.model_settings(),
    })
}

/// `GET path` with `key`.
pub async fn get(server: &TestServer, key: &str, path: &str) -> Response {
    server
        .http
        .get(server.at(path))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
}

/// The JSON body of a response that must have `status`.
pub async fn json_with(response: Response, status: u16) -> Value {
    let actual = response.status().as_u16();
    let text = response.text().await.unwrap();
    assert_eq!(actual, status, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// The current version id of a prompt.
pub async fn current_version(server: &TestServer, key: &str, prompt_id: &str) -> String {
    let body = json_with(
        get(server, key, &format!("{PROMPTS}/{prompt_id}")).await,
        200,
    )
    .await;
    body["currentVersionId"].as_str().unwrap().to_owned()
}

/// The ids in a list page's `items`.
pub fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Moves `clock` to just after the start of the next one-minute rate window, so a burst of
/// requests cannot straddle two windows.
pub fn at_window_start(clock: &Clock) {
    let into = clock.now_ms().rem_euclid(proem_core::ratelimit::WINDOW_MS);
    clock.advance(Duration::from_millis(
        u64::try_from(proem_core::ratelimit::WINDOW_MS - into + 1).unwrap(),
    ));
}

/// Waits (at most 5 s) until `user_id` has at least `n` activity rows matching `filter`; reads the
/// store directly so the wait itself adds no rows. Returns them, newest first.
pub async fn wait_for_activity(
    server: &TestServer,
    user_id: &str,
    filter: &ActivityFilter,
    n: usize,
) -> Vec<ActivityEntry> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let rows = server
            .state
            .store()
            .list_activity(user_id, filter, None, 10_000)
            .await
            .unwrap();
        if rows.len() >= n {
            return rows;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {n} activity rows after 5 s",
            rows.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
