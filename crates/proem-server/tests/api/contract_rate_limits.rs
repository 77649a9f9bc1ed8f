//! Rate limits (spec "Rate limits", "Rate-limit headers"): per-minute fixed windows per key and per
//! user, evaluated after authentication; headers on every authenticated answer; `rate_limited`
//! with `Retry-After` on overflow; exactly L of any burst pass, on one instance or on two sharing
//! PostgreSQL. On SQLite (one server process) the windows live in the process.

use std::time::Duration;

use futures::future::join_all;
use proem_testkit::TestServer;
use reqwest::Response;

use super::contract_support::{
    PROMPTS, at_window_start, get, key_with_id, prompt_body, user_with_key_id,
};
use super::support::expect_problem;

fn header(r: &Response, name: &str) -> String {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_owned()
}

async fn post_prompt(server: &TestServer, key: &str) -> Response {
    server
        .http
        .post(server.at(PROMPTS))
        .header("x-api-key", key)
        .json(&prompt_body(server, "limited"))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn every_authenticated_response_carries_the_rate_limit_headers() {
    let server = TestServer::start().await;
    let (_, _, key) = user_with_key_id(&server, &["read"]).await;
    at_window_start(&server.clock);
    let reset = (proem_core::ratelimit::window_start(server.clock.now_ms()) + 60_000) / 1000;

    let missing = format!("{PROMPTS}/prm_missing");
    // A success, a 404 and a 403 each take a slot and report it.
    for (n, (path, status)) in [
        (PROMPTS, 200),
        (missing.as_str(), 404),
        ("/api/v2/keys/k/grants", 403),
    ]
    .into_iter()
    .enumerate()
    {
        let r = get(&server, &key, path).await;
        assert_eq!(r.status(), status, "{path}");
        let (key_left, user_left) = (59 - n, 299 - n);
        assert_eq!(header(&r, "x-ratelimit-limit"), "60");
        assert_eq!(header(&r, "x-ratelimit-remaining"), key_left.to_string());
        assert_eq!(header(&r, "x-ratelimit-reset"), reset.to_string());
        assert_eq!(
            header(&r, "x-ratelimit-bucket"),
            format!("key={key_left}/60,user={user_left}/300")
        );
        assert_eq!(
            header(&r, "ratelimit-policy"),
            r#""key";q=60;w=60, "user";q=300;w=60"#
        );
        let ratelimit = header(&r, "ratelimit");
        let t: i64 = ratelimit.rsplit("t=").next().unwrap().parse().unwrap();
        assert!((1..=60).contains(&t), "{ratelimit}");
        assert_eq!(
            ratelimit,
            format!(r#""key";r={key_left};t={t}, "user";r={user_left};t={t}"#)
        );
    }
}

#[tokio::test]
async fn unauthenticated_requests_neither_carry_nor_drain_a_bucket() {
    let server = TestServer::start().await;
    let (_, _, key) = user_with_key_id(&server, &["read"]).await;
    at_window_start(&server.clock);
    let unknown = proem_core::keys::generate().plaintext;
    for _ in 0..5 {
        let r = get(&server, &unknown, PROMPTS).await;
        assert!(r.headers().get("x-ratelimit-bucket").is_none());
        expect_problem(r, 401, "key_unauthorized").await;
    }
    let r = get(&server, &key, PROMPTS).await;
    assert_eq!(header(&r, "x-ratelimit-bucket"), "key=59/60,user=299/300");
}

#[tokio::test]
async fn per_key_overflow_is_rate_limited_with_retry_after_naming_the_key_bucket() {
    let server = TestServer::start_with(|c| c.rate_limits.read_per_key = 3).await;
    let (_, _, key) = user_with_key_id(&server, &["read"]).await;
    at_window_start(&server.clock);
    for _ in 0..3 {
        assert_eq!(get(&server, &key, PROMPTS).await.status(), 200);
    }
    let r = get(&server, &key, PROMPTS).await;
    let retry: i64 = header(&r, "retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(header(&r, "x-ratelimit-remaining"), "0");
    // The refused request consumed nothing from either bucket.
    assert_eq!(header(&r, "x-ratelimit-bucket"), "key=0/3,user=297/300");
    let body = expect_problem(r, 429, "rate_limited").await;
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("per-key"), "{detail}");
    assert!(detail.contains("read"), "{detail}");
    assert!(body["action_hint"].as_str().unwrap().contains("bucket"));

    // The next window is fresh.
    server
        .clock
        .advance(Duration::from_secs(u64::try_from(retry).unwrap()));
    assert_eq!(get(&server, &key, PROMPTS).await.status(), 200);
}

#[tokio::test]
async fn per_user_overflow_is_rate_limited_naming_the_user_bucket() {
    let server = TestServer::start_with(|c| {
        c.rate_limits.read_per_key = 10;
        c.rate_limits.read_per_user = 4;
    })
    .await;
    let (user, _, first) = user_with_key_id(&server, &["read"]).await;
    let (_, second) = key_with_id(&server, &user, &["read"]).await;
    at_window_start(&server.clock);
    for _ in 0..3 {
        assert_eq!(get(&server, &first, PROMPTS).await.status(), 200);
    }
    assert_eq!(get(&server, &second, PROMPTS).await.status(), 200);
    let r = get(&server, &second, PROMPTS).await;
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(header(&r, "x-ratelimit-bucket"), "key=9/10,user=0/4");
    let body = expect_problem(r, 429, "rate_limited").await;
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("per-user"), "{detail}");
    // The key's slot, taken before the user's bucket refused, was given back.
    let again = get(&server, &second, PROMPTS).await;
    assert_eq!(header(&again, "x-ratelimit-bucket"), "key=9/10,user=0/4");
    // Another user is not affected.
    let (_, _, stranger) = user_with_key_id(&server, &["read"]).await;
    assert_eq!(get(&server, &stranger, PROMPTS).await.status(), 200);
}

#[tokio::test]
async fn writes_count_against_the_read_bucket_unless_configured() {
    let server = TestServer::start_with(|c| c.rate_limits.read_per_key = 3).await;
    let (_, _, key) = user_with_key_id(&server, &["read", "write"]).await;
    at_window_start(&server.clock);
    assert_eq!(get(&server, &key, PROMPTS).await.status(), 200);
    let r = post_prompt(&server, &key).await;
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "x-ratelimit-bucket"), "key=1/3,user=298/300");
    assert_eq!(get(&server, &key, PROMPTS).await.status(), 200);
    let body = expect_problem(post_prompt(&server, &key).await, 429, "rate_limited").await;
    assert!(body["detail"].as_str().unwrap().contains("read"));
}

#[tokio::test]
async fn configured_write_limits_are_a_bucket_of_their_own() {
    let server = TestServer::start_with(|c| {
        c.rate_limits.read_per_key = 3;
        c.rate_limits.write_per_key = Some(2);
    })
    .await;
    let (_, _, key) = user_with_key_id(&server, &["read", "write"]).await;
    at_window_start(&server.clock);
    for _ in 0..2 {
        let r = post_prompt(&server, &key).await;
        assert_eq!(r.status(), 201);
        assert_eq!(header(&r, "x-ratelimit-limit"), "2");
    }
    let body = expect_problem(post_prompt(&server, &key).await, 429, "rate_limited").await;
    assert!(body["detail"].as_str().unwrap().contains("write"));
    // The read bucket is untouched by the writes.
    for left in (0..3).rev() {
        let r = get(&server, &key, PROMPTS).await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "x-ratelimit-remaining"), left.to_string());
    }
}

#[tokio::test]
async fn execute_routes_count_against_the_execute_bucket_of_30_per_key_and_90_per_user() {
    let server = TestServer::start().await;
    let (_, _, key) = user_with_key_id(&server, &["read", "write", "execute"]).await;
    at_window_start(&server.clock);
    let prompt = server.create_prompt(&key, "executed").await;
    // `POST /records` needs `execute` (spec "Execute (execute scope)").
    for n in 1..=2 {
        let r = server
            .http
            .post(server.at("/api/v2/public/records"))
            .header("x-api-key", &key)
            .json(&serde_json::json!({"promptId": prompt, "input": "in", "output": "out"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(header(&r, "x-ratelimit-limit"), "30");
        assert_eq!(
            header(&r, "x-ratelimit-bucket"),
            format!("key={}/30,user={}/90", 30 - n, 90 - n)
        );
        assert_eq!(
            header(&r, "ratelimit-policy"),
            r#""key";q=30;w=60, "user";q=90;w=60"#
        );
    }
    // The read bucket only saw the prompt's creation.
    let r = get(&server, &key, PROMPTS).await;
    assert_eq!(header(&r, "x-ratelimit-bucket"), "key=58/60,user=298/300");
}

/// Sends `n` concurrent `GET /prompts`, alternating over `targets` (base URLs) and `keys`;
/// returns the statuses.
async fn burst(http: &reqwest::Client, targets: &[String], keys: &[String], n: usize) -> Vec<u16> {
    let requests = (0..n).map(|i| {
        let url = format!("{}{PROMPTS}", targets[i % targets.len()]);
        let key = keys[i % keys.len()].clone();
        let http = http.clone();
        async move {
            http.get(url)
                .header("x-api-key", key)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    join_all(requests).await
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_limit_l_exactly_l_of_ten_l_concurrent_requests_succeed() {
    let server = TestServer::start_with(|c| c.rate_limits.read_per_key = 5).await;
    let (_, _, key) = user_with_key_id(&server, &["read"]).await;
    at_window_start(&server.clock);
    let statuses = burst(&server.http, std::slice::from_ref(&server.url), &[key], 50).await;
    assert_eq!(count(&statuses, 200), 5, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 45, "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_user_limit_is_exact_under_concurrency_across_keys() {
    let server = TestServer::start_with(|c| {
        c.rate_limits.read_per_key = 1_000;
        c.rate_limits.read_per_user = 6;
    })
    .await;
    let (user, _, a) = user_with_key_id(&server, &["read"]).await;
    let (_, b) = key_with_id(&server, &user, &["read"]).await;
    let (_, c) = key_with_id(&server, &user, &["read"]).await;
    at_window_start(&server.clock);
    let statuses = burst(
        &server.http,
        std::slice::from_ref(&server.url),
        &[a, b, c],
        60,
    )
    .await;
    assert_eq!(count(&statuses, 200), 6, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 54, "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_exact_across_instances_on_postgres_and_per_process_on_sqlite() {
    let limits = |c: &mut proem_core::Config| {
        c.rate_limits.read_per_key = 5;
        c.rate_limits.read_per_user = 8;
    };
    let server = TestServer::start_with(limits).await;
    let second = server.second_instance(limits).await;
    let targets = [server.url.clone(), second.url.clone()];
    // PostgreSQL: both instances count in the database. SQLite: the embedded shape is one
    // process, whose windows are its own; a second process on the file counts separately.
    let instances_counting_apart = if server.db.is_postgres() { 1 } else { 2 };

    // Per key: 50 requests with one key, half on each instance.
    let (user, _, key) = user_with_key_id(&server, &["read"]).await;
    at_window_start(&server.clock);
    let statuses = burst(&server.http, &targets, std::slice::from_ref(&key), 50).await;
    let passed = 5 * instances_counting_apart;
    assert_eq!(count(&statuses, 200), passed, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 50 - passed, "{statuses:?}");

    // Per user: three more keys of the same user share its bucket of 8, of which 5 are used
    // (on each instance, on SQLite).
    let mut keys = Vec::new();
    for _ in 0..3 {
        keys.push(key_with_id(&server, &user, &["read"]).await.1);
    }
    let statuses = burst(&server.http, &targets, &keys, 30).await;
    let passed = 3 * instances_counting_apart;
    assert_eq!(count(&statuses, 200), passed, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 30 - passed, "{statuses:?}");
    // Only the shared shape writes windows to the database.
    let stored = server.db.table_text("rate_windows").await;
    assert_eq!(stored.is_empty(), !server.db.is_postgres(), "{stored}");
    second.stop().await.unwrap();
}

#[tokio::test]
async fn a_refused_request_leaves_both_buckets_as_they_were() {
    let server = TestServer::start_with(|c| {
        c.rate_limits.read_per_key = 2;
        c.rate_limits.read_per_user = 3;
    })
    .await;
    let (user, _, a) = user_with_key_id(&server, &["read"]).await;
    let (_, b) = key_with_id(&server, &user, &["read"]).await;
    at_window_start(&server.clock);
    assert_eq!(get(&server, &a, PROMPTS).await.status(), 200);
    assert_eq!(get(&server, &a, PROMPTS).await.status(), 200);
    // Key a is full: refused, and the user's bucket is not charged for it.
    let refused = get(&server, &a, PROMPTS).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(header(&refused, "x-ratelimit-bucket"), "key=0/2,user=1/3");
    // So key b still gets the user's last slot, and then key b is refused by the user bucket
    // without its own bucket being charged.
    let r = get(&server, &b, PROMPTS).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-ratelimit-bucket"), "key=1/2,user=0/3");
    let refused = get(&server, &b, PROMPTS).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(header(&refused, "x-ratelimit-bucket"), "key=1/2,user=0/3");
}
