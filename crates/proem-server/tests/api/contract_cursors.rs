//! Cursor pagination (spec "Cursor pagination"): `{items, nextCursor?}` with `nextCursor` absent on
//! the last page; signed cursors bound to their user and filters; `limit` 1–500, default 100,
//! above 500 clamped.

use proem_core::store::ActivityEntry;
use proem_core::store::prompts::{PromptRow, insert_prompt};
use proem_testkit::TestServer;
use serde_json::{Value, json};

use super::contract_support::{ACTIVITY, PROMPTS, get, ids, json_with, user_with_key_id};
use super::support::expect_problem;

/// Follows `nextCursor` from `first` (a path without `cursor`) to the end; returns every page.
async fn all_pages(server: &TestServer, key: &str, first: &str) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut path = first.to_owned();
    loop {
        let page = json_with(get(server, key, &path).await, 200).await;
        let next = page
            .get("nextCursor")
            .map(|c| c.as_str().unwrap().to_owned());
        pages.push(page);
        let Some(cursor) = next else { return pages };
        let sep = if first.contains('?') { '&' } else { '?' };
        path = format!("{first}{sep}cursor={cursor}");
        assert!(pages.len() < 100, "pagination does not end");
    }
}

/// `n` seeded activity rows of `key_id` (a key that never calls, so paging adds no rows to them).
async fn seed_activity(server: &TestServer, user_id: &str, key_id: &str, n: usize) -> Vec<String> {
    let now = server.clock.now_ms();
    let rows: Vec<ActivityEntry> = (0..n)
        .map(|_| ActivityEntry {
            id: proem_core::ids::new_id("act"),
            at: now,
            user_id: user_id.to_owned(),
            key_id: key_id.to_owned(),
            method: "GET".to_owned(),
            route: "/api/v2/public/prompts".to_owned(),
            status: 200,
            latency_us: 1_000,
            prompt_id: None,
        })
        .collect();
    server.state.store().write_activity(&rows).await.unwrap();
    rows.into_iter().map(|r| r.id).collect()
}

#[tokio::test]
async fn next_cursor_is_present_only_while_more_pages_exist() {
    let server = TestServer::start().await;
    let (_, _, key) = user_with_key_id(&server, &["read", "write"]).await;
    let id = server.create_prompt(&key, "a").await;
    server.create_prompt(&key, "b").await;

    let first = json_with(get(&server, &key, &format!("{PROMPTS}?limit=1")).await, 200).await;
    assert!(first["nextCursor"].is_string());
    let whole = json_with(get(&server, &key, PROMPTS).await, 200).await;
    assert_eq!(ids(&whole).len(), 2);
    assert!(
        whole.get("nextCursor").is_none(),
        "absent, not null: {whole}"
    );
    let exact = json_with(get(&server, &key, &format!("{PROMPTS}?limit=2")).await, 200).await;
    assert!(exact.get("nextCursor").is_none());
    let versions = json_with(
        get(&server, &key, &format!("{PROMPTS}/{id}/versions")).await,
        200,
    )
    .await;
    assert!(versions["items"].is_array());
    assert!(versions.get("nextCursor").is_none());
    let activity = json_with(get(&server, &key, ACTIVITY).await, 200).await;
    assert!(activity["items"].is_array());
}

#[tokio::test]
async fn paging_prompts_with_limit_k_visits_each_exactly_once_newest_first() {
    let server = TestServer::start_with(|c| c.rate_limits.read_per_key = 1_000).await;
    let (_, _, key) = user_with_key_id(&server, &["read", "write"]).await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(server.create_prompt(&key, &format!("p{i}")).await);
    }
    created.reverse();
    let pages = all_pages(&server, &key, &format!("{PROMPTS}?limit=3")).await;
    let sizes: Vec<usize> = pages.iter().map(|p| ids(p).len()).collect();
    assert_eq!(sizes, vec![3, 3, 1]);
    let visited: Vec<String> = pages.iter().flat_map(ids).collect();
    assert_eq!(visited, created);
}

#[tokio::test]
async fn paging_versions_with_limit_k_visits_each_exactly_once_highest_number_first() {
    let server = TestServer::start_with(|c| c.rate_limits.read_per_key = 1_000).await;
    let (_, _, key) = user_with_key_id(&server, &["read", "write"]).await;
    let id = server.create_prompt(&key, "versioned").await;
    for i in 2..=7 {
        let r = server
            .http
            .post(server.at(&format!("{PROMPTS}/{id}/versions")))
            .header("x-api-key", &key)
            .json(&json!({"promptText": format!("v{i}"), "modelSettings": server.model_settings()}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let pages = all_pages(&server, &key, &format!("{PROMPTS}/{id}/versions?limit=2")).await;
    assert_eq!(pages.len(), 4);
    let numbers: Vec<i64> = pages
        .iter()
        .flat_map(|p| p["items"].as_array().unwrap().clone())
        .map(|v| v["versionNumber"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, vec![7, 6, 5, 4, 3, 2, 1]);
}

#[tokio::test]
async fn paging_activity_with_limit_k_visits_each_exactly_once() {
    let server = TestServer::start().await;
    let (user, _, key) = user_with_key_id(&server, &["read"]).await;
    let mut seeded = seed_activity(&server, &user.id, "key_seeded", 9).await;
    seeded.reverse();
    let pages = all_pages(
        &server,
        &key,
        &format!("{ACTIVITY}?keyId=key_seeded&limit=4"),
    )
    .await;
    let sizes: Vec<usize> = pages.iter().map(|p| ids(p).len()).collect();
    assert_eq!(sizes, vec![4, 4, 1]);
    let visited: Vec<String> = pages.iter().flat_map(ids).collect();
    assert_eq!(visited, seeded);
}

/// A cursor with one character of its signed payload changed.
fn tamper(cursor: &str) -> String {
    let mut bytes = cursor.as_bytes().to_vec();
    bytes[2] = if bytes[2] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

#[tokio::test]
async fn tampered_cursor_is_invalid_cursor() {
    let server = TestServer::start().await;
    let (_, _, key) = user_with_key_id(&server, &["read", "write"]).await;
    server.create_prompt(&key, "a").await;
    server.create_prompt(&key, "b").await;
    let page = json_with(get(&server, &key, &format!("{PROMPTS}?limit=1")).await, 200).await;
    let cursor = page["nextCursor"].as_str().unwrap();
    let (payload, tag) = cursor.split_once('.').unwrap();
    for bad in [
        tamper(cursor),
        format!("{payload}.{}", tamper(tag)),
        payload.to_owned(),
        "garbage".to_owned(),
        format!("{cursor}x"),
    ] {
        let r = get(&server, &key, &format!("{PROMPTS}?limit=1&cursor={bad}")).await;
        expect_problem(r, 400, "invalid_cursor").await;
    }
}

#[tokio::test]
async fn another_users_cursor_is_invalid_cursor() {
    let server = TestServer::start().await;
    let (_, _, alice) = user_with_key_id(&server, &["read", "write"]).await;
    let (_, _, bob) = user_with_key_id(&server, &["read", "write"]).await;
    server.create_prompt(&alice, "a").await;
    server.create_prompt(&alice, "b").await;
    let page = json_with(
        get(&server, &alice, &format!("{PROMPTS}?limit=1")).await,
        200,
    )
    .await;
    let cursor = page["nextCursor"].as_str().unwrap();
    let r = get(&server, &bob, &format!("{PROMPTS}?limit=1&cursor={cursor}")).await;
    expect_problem(r, 400, "invalid_cursor").await;
}

#[tokio::test]
async fn cursor_with_changed_filters_is_cursor_filter_mismatch() {
    let server = TestServer::start().await;
    let (user, key_id, key) = user_with_key_id(&server, &["read", "write"]).await;
    let a = server.create_prompt(&key, "a").await;
    let b = server.create_prompt(&key, "b").await;
    let post = |id: String| {
        let server = &server;
        let key = &key;
        async move {
            let r = server
                .http
                .post(server.at(&format!("{PROMPTS}/{id}/versions")))
                .header("x-api-key", key)
                .json(&json!({"promptText": "v2", "modelSettings": server.model_settings()}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
        }
    };
    post(a.clone()).await;
    post(b.clone()).await;

    // Versions of one prompt, continued on another prompt.
    let page = json_with(
        get(&server, &key, &format!("{PROMPTS}/{a}/versions?limit=1")).await,
        200,
    )
    .await;
    let cursor = page["nextCursor"].as_str().unwrap();
    let r = get(
        &server,
        &key,
        &format!("{PROMPTS}/{b}/versions?limit=1&cursor={cursor}"),
    )
    .await;
    expect_problem(r, 400, "cursor_filter_mismatch").await;
    // A cursor of one list used on another.
    let r = get(&server, &key, &format!("{PROMPTS}?limit=1&cursor={cursor}")).await;
    expect_problem(r, 400, "cursor_filter_mismatch").await;

    // Activity filtered by one key, continued with another keyId or an added filter.
    seed_activity(&server, &user.id, &key_id, 3).await;
    let page = json_with(
        get(&server, &key, &format!("{ACTIVITY}?keyId={key_id}&limit=1")).await,
        200,
    )
    .await;
    let cursor = page["nextCursor"].as_str().unwrap();
    for changed in [
        "keyId=key_other".to_owned(),
        format!("keyId={key_id}&method=POST"),
        format!("keyId={key_id}&status=200"),
        String::new(),
    ] {
        let r = get(
            &server,
            &key,
            &format!("{ACTIVITY}?{changed}&limit=1&cursor={cursor}"),
        )
        .await;
        expect_problem(r, 400, "cursor_filter_mismatch").await;
    }
    // The same filters (in another order, another limit) continue fine.
    let r = get(
        &server,
        &key,
        &format!("{ACTIVITY}?limit=2&cursor={cursor}&keyId={key_id}"),
    )
    .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn limit_below_1_is_param_out_of_range_and_non_integer_is_invalid_params() {
    let server = TestServer::start().await;
    let (_, _, key) = user_with_key_id(&server, &["read", "write"]).await;
    let id = server.create_prompt(&key, "a").await;
    for list in [
        PROMPTS.to_owned(),
        format!("{PROMPTS}/{id}/versions"),
        ACTIVITY.to_owned(),
    ] {
        for below in ["0", "-1"] {
            let r = get(&server, &key, &format!("{list}?limit={below}")).await;
            let body = expect_problem(r, 400, "param_out_of_range").await;
            assert_eq!(body["invalid_params"][0]["name"], "limit");
        }
        for wrong in ["abc", "1.5", "ten"] {
            let r = get(&server, &key, &format!("{list}?limit={wrong}")).await;
            let body = expect_problem(r, 400, "invalid_params").await;
            assert_eq!(body["invalid_params"][0]["name"], "limit");
        }
        assert_eq!(
            get(&server, &key, &format!("{list}?limit=1"))
                .await
                .status(),
            200
        );
    }
}

#[tokio::test]
async fn limit_above_500_is_clamped_to_500() {
    let server = TestServer::start().await;
    let (user, _, key) = user_with_key_id(&server, &["read"]).await;

    seed_activity(&server, &user.id, "key_seeded", 501).await;
    let path = format!("{ACTIVITY}?keyId=key_seeded&limit=501");
    let page = json_with(get(&server, &key, &path).await, 200).await;
    assert_eq!(ids(&page).len(), 500);
    let cursor = page["nextCursor"].as_str().unwrap();
    let rest = json_with(
        get(&server, &key, &format!("{path}&cursor={cursor}")).await,
        200,
    )
    .await;
    assert_eq!(ids(&rest).len(), 1);
    assert!(rest.get("nextCursor").is_none());

    // The same for prompts, seeded straight into the store.
    let now = server.clock.now_ms();
    let mut tx = server.state.store().begin().await.unwrap();
    for i in 0..501 {
        let row = PromptRow {
            id: proem_core::ids::new_id(proem_core::ids::PROMPT),
            user_id: user.id.clone(),
            name: format!("seeded {i}"),
            abbreviation: None,
            current_version_id: None,
            expose_as_mcp_tool: false,
            mcp_tool_name: None,
            attachment_count: 0,
            attachment_bytes: 0,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        };
        insert_prompt(&mut *tx, &row).await.unwrap();
    }
    tx.commit().await.unwrap();
    let page = json_with(
        get(&server, &key, &format!("{PROMPTS}?limit=100000")).await,
        200,
    )
    .await;
    assert_eq!(ids(&page).len(), 500);
    assert!(page["nextCursor"].is_string());
    // Without a limit, the default page is 100.
    let page = json_with(get(&server, &key, PROMPTS).await, 200).await;
    assert_eq!(ids(&page).len(), 100);
}
