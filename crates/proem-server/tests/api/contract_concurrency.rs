//! Idempotency under concurrency (spec "Idempotency"): 200 identical requests racing with one
//! Idempotency-Key create exactly one prompt; every other answer is a byte-identical replay or
//! `idempotency_in_flight`, never a 5xx, on one instance or two sharing a database.

use futures::future::join_all;
use proem_testkit::TestServer;
use serde_json::Value;

use super::contract_support::{PROMPTS, get, ids, json_with, prompt_body, user_with_key_id};

const RACERS: usize = 200;

/// Rate limits high enough that the race is about idempotency, not the buckets.
fn generous(c: &mut proem_core::Config) {
    c.rate_limits.read_per_key = 10_000;
    c.rate_limits.read_per_user = 10_000;
}

struct Answer {
    status: u16,
    replayed: bool,
    retry_after: Option<String>,
    body: Vec<u8>,
}

/// Sends `RACERS` identical `POST /prompts` with one Idempotency-Key, alternating over `targets`.
async fn race(server: &TestServer, targets: &[String], key: &str) -> Vec<Answer> {
    let body = serde_json::to_vec(&prompt_body(server, "raced")).unwrap();
    let requests = (0..RACERS).map(|i| {
        let request = server
            .http
            .post(format!("{}{PROMPTS}", targets[i % targets.len()]))
            .header("x-api-key", key)
            .header("idempotency-key", "one-key-for-all")
            .header("content-type", "application/json")
            .body(body.clone());
        async move {
            let r = request.send().await.unwrap();
            let header = |name: &str| {
                r.headers()
                    .get(name)
                    .map(|v| v.to_str().unwrap().to_owned())
            };
            let replayed = header("idempotent-replayed").as_deref() == Some("true");
            let retry_after = header("retry-after");
            Answer {
                status: r.status().as_u16(),
                replayed,
                retry_after,
                body: r.bytes().await.unwrap().to_vec(),
            }
        }
    });
    join_all(requests).await
}

/// Asserts the race created one prompt and answered everyone else with its replay or in-flight.
async fn assert_exactly_once(server: &TestServer, key: &str, answers: &[Answer]) {
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert!(
        statuses.iter().all(|s| *s < 500),
        "no 5xx expected: {statuses:?}"
    );
    let originals: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.status == 201 && !a.replayed)
        .collect();
    assert_eq!(originals.len(), 1, "{statuses:?}");
    let original = &originals[0].body;
    for a in answers {
        match a.status {
            201 => assert_eq!(&a.body, original, "a replay differs from the original"),
            409 => {
                let problem: Value = serde_json::from_slice(&a.body).unwrap();
                assert_eq!(problem["reason_code"], "idempotency_in_flight", "{problem}");
                assert_eq!(a.retry_after.as_deref(), Some("1"));
            }
            other => panic!("unexpected status {other}"),
        }
    }
    let created: Value = serde_json::from_slice(original).unwrap();
    let page = json_with(get(server, key, PROMPTS).await, 200).await;
    assert_eq!(ids(&page), vec![created["promptId"].as_str().unwrap()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_identical_posts_with_one_key_create_exactly_one_prompt() {
    let server = TestServer::start_with(generous).await;
    let (_, _, key) = user_with_key_id(&server, &["read", "write"]).await;
    let answers = race(&server, std::slice::from_ref(&server.url), &key).await;
    assert_exactly_once(&server, &key, &answers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_posts_across_two_instances_create_exactly_one_prompt() {
    let server = TestServer::start_with(generous).await;
    let second = server.second_instance(generous).await;
    let (_, _, key) = user_with_key_id(&server, &["read", "write"]).await;
    let answers = race(&server, &[server.url.clone(), second.url.clone()], &key).await;
    assert_exactly_once(&server, &key, &answers).await;
    second.stop().await.unwrap();
}
