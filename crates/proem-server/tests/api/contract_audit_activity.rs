//! The audit trail (one row per mutation: who, method, route template, object, status; content
//! fields only as presence, length and a SHA-256 prefix) and API-key activity (one row per key
//! request, written in batches off the request path; listed, filtered and summed).

use std::time::Duration;

use proem_core::store::ActivityFilter;
use proem_testkit::{Scenario, TestServer};
use reqwest::{Method, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::contract_support::{
    ACTIVITY, PROMPTS, STATS, current_version, get, json_with, key_expiring, key_with_id,
    user_with_key_id, wait_for_activity,
};
use super::run_support::{RunFixture, find};
use super::support::expect_problem;

async fn send(
    server: &TestServer,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Response {
    let mut req = server
        .http
        .request(method, server.at(path))
        .header("x-api-key", key);
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}

/// Who (key), method, route template, object id and status of an audit row.
type AuditLine<'a> = (Option<&'a str>, &'a str, &'a str, Option<&'a str>, u16);

#[tokio::test]
async fn every_mutation_writes_an_audit_row_with_who_what_and_outcome() {
    let server = TestServer::start().await;
    let (user, key_id, key) = user_with_key_id(&server, &["read", "write"]).await;
    let (reader_id, reader) = key_with_id(&server, &user, &["read"]).await;
    let id = server.create_prompt(&key, "audited").await;
    let v1 = current_version(&server, &key, &id).await;
    let prompt = format!("{PROMPTS}/{id}");
    let ok = |r: Response, status: u16| async move {
        assert_eq!(r.status(), status, "{}", r.text().await.unwrap());
    };

    ok(
        send(
            &server,
            &key,
            Method::PATCH,
            &prompt,
            Some(json!({"name": "renamed"})),
        )
        .await,
        200,
    )
    .await;
    let settings = server.model_settings();
    let r = send(
        &server,
        &key,
        Method::POST,
        &format!("{prompt}/versions"),
        Some(json!({"promptText": "v2", "modelSettings": settings})),
    )
    .await;
    let v2 = json_with(r, 201).await["id"].as_str().unwrap().to_owned();
    let v2_path = format!("{prompt}/versions/{v2}");
    ok(
        send(
            &server,
            &key,
            Method::PATCH,
            &v2_path,
            Some(json!({"versionDescription": "d"})),
        )
        .await,
        200,
    )
    .await;
    ok(
        send(
            &server,
            &key,
            Method::PUT,
            &format!("{prompt}/current-version"),
            Some(json!({"versionId": v2})),
        )
        .await,
        200,
    )
    .await;
    ok(
        send(
            &server,
            &key,
            Method::DELETE,
            &format!("{prompt}/versions/{v1}"),
            None,
        )
        .await,
        200,
    )
    .await;
    ok(
        send(&server, &key, Method::DELETE, &prompt, None).await,
        200,
    )
    .await;
    // Refusals are audited too, with their status.
    ok(
        send(
            &server,
            &key,
            Method::PATCH,
            &format!("{PROMPTS}/prm_missing"),
            Some(json!({"name": "x"})),
        )
        .await,
        404,
    )
    .await;
    ok(
        send(
            &server,
            &reader,
            Method::PATCH,
            &prompt,
            Some(json!({"name": "x"})),
        )
        .await,
        403,
    )
    .await;
    // Reads are not audited.
    ok(get(&server, &key, PROMPTS).await, 200).await;

    let mut rows = server.state.store().audit_for_user(&user.id).await.unwrap();
    rows.reverse();
    let actual: Vec<AuditLine> = rows
        .iter()
        .map(|r| {
            assert_eq!(r.user_id, user.id);
            (
                r.key_id.as_deref(),
                r.method.as_str(),
                r.route.as_str(),
                r.object_id.as_deref(),
                r.status,
            )
        })
        .collect();
    let k = Some(key_id.as_str());
    let (list, item) = ("/api/v2/public/prompts", "/api/v2/public/prompts/{id}");
    let versions = "/api/v2/public/prompts/{id}/versions";
    let version = "/api/v2/public/prompts/{id}/versions/{vid}";
    let current = "/api/v2/public/prompts/{id}/current-version";
    let (id, v1, v2) = (Some(id.as_str()), Some(v1.as_str()), Some(v2.as_str()));
    let expected: Vec<AuditLine> = vec![
        (k, "POST", list, id, 201),
        (k, "PATCH", item, id, 200),
        (k, "POST", versions, v2, 201),
        (k, "PATCH", version, v2, 200),
        (k, "PUT", current, v2, 200),
        (k, "DELETE", version, v1, 200),
        (k, "DELETE", item, id, 200),
        (k, "PATCH", item, None, 404),
        (Some(reader_id.as_str()), "PATCH", item, None, 403),
    ];
    assert_eq!(actual, expected);
}

fn sha256_prefix(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()[..12]
        .to_owned()
}

#[tokio::test]
async fn audit_fields_hold_presence_length_and_sha256_prefix_never_content() {
    let server = TestServer::start().await;
    let (user, _, key) = user_with_key_id(&server, &["read", "write"]).await;
    let name = "Quarterly board memo for Zanzibar";
    let text = "CONFIDENTIAL: merge with Acme closes on 2027-01-15; tell nobody.";
    let r = send(
        &server,
        &key,
        Method::POST,
        PROMPTS,
        Some(json!({
            "name": name,
            "promptText": text,
            "abbreviation": "QBM",
            "modelSettings": server.model_settings(),
        })),
    )
    .await;
    let id = json_with(r, 201).await["promptId"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = send(
        &server,
        &key,
        Method::PATCH,
        &format!("{PROMPTS}/{id}"),
        Some(json!({"abbreviation": null})),
    )
    .await;
    assert_eq!(r.status(), 200);

    let rows = server.state.store().audit_for_user(&user.id).await.unwrap();
    let created: Value = serde_json::from_str(&rows[1].fields).unwrap();
    assert_eq!(
        created["name"],
        json!({"present": true, "length": name.chars().count(), "sha256Prefix": sha256_prefix(name)})
    );
    assert_eq!(
        created["promptText"],
        json!({"present": true, "length": text.chars().count(), "sha256Prefix": sha256_prefix(text)})
    );
    assert_eq!(created["modelSettings"]["present"], true);
    assert!(created.get("absentField").is_none());
    let patched: Value = serde_json::from_str(&rows[0].fields).unwrap();
    assert_eq!(
        patched,
        json!({"abbreviation": {"present": true, "null": true}})
    );

    for row in &rows {
        for raw in [name, text, "QBM", "Zanzibar", "CONFIDENTIAL"] {
            assert!(
                !row.fields.contains(raw),
                "raw content in audit fields: {}",
                row.fields
            );
        }
    }
    let table = server.db.table_text("audit_log").await;
    assert!(!table.contains(text) && !table.contains(name));
}

#[tokio::test]
async fn every_api_key_request_writes_an_activity_row() {
    let server = TestServer::start().await;
    let (user, key_id, key) = user_with_key_id(&server, &["read", "write"]).await;
    let id = server.create_prompt(&key, "tracked").await;
    assert_eq!(get(&server, &key, PROMPTS).await.status(), 200);
    assert_eq!(
        get(&server, &key, &format!("{PROMPTS}/{id}"))
            .await
            .status(),
        200
    );
    assert_eq!(
        get(&server, &key, &format!("{PROMPTS}/prm_missing"))
            .await
            .status(),
        404
    );
    let (execute_id, execute_only) = key_with_id(&server, &user, &["execute"]).await;
    assert_eq!(get(&server, &execute_only, PROMPTS).await.status(), 403);

    let rows = wait_for_activity(&server, &user.id, &ActivityFilter::default(), 5).await;
    let mut seen: Vec<(&str, &str, &str, u16, Option<&str>)> = rows
        .iter()
        .map(|r| {
            (
                r.key_id.as_str(),
                r.method.as_str(),
                r.route.as_str(),
                r.status,
                r.prompt_id.as_deref(),
            )
        })
        .collect();
    seen.reverse();
    let (p, item) = ("/api/v2/public/prompts", "/api/v2/public/prompts/{id}");
    let k = key_id.as_str();
    assert_eq!(
        seen,
        vec![
            (k, "POST", p, 201, Some(id.as_str())),
            (k, "GET", p, 200, None),
            (k, "GET", item, 200, Some(id.as_str())),
            (k, "GET", item, 404, None),
            (execute_id.as_str(), "GET", p, 403, None),
        ]
    );

    // The same rows through the API, newest first, in the wire shape.
    let page = json_with(
        get(&server, &key, &format!("{ACTIVITY}?keyId={k}")).await,
        200,
    )
    .await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    let newest = &items[0];
    assert_eq!(newest["keyId"], k);
    assert_eq!(newest["method"], "GET");
    assert_eq!(newest["route"], item);
    assert_eq!(newest["status"], 404);
    assert!(newest.get("promptId").is_none());
    assert!(newest["latencyMs"].as_f64().unwrap() >= 0.0);
    assert!(newest["atUtc"].as_str().unwrap().ends_with('Z'));
    assert_eq!(items[1]["promptId"], id.as_str());
}

#[tokio::test]
async fn activity_is_filtered_by_key_method_status_and_prompt() {
    let server = TestServer::start().await;
    let (user, a_id, a) = user_with_key_id(&server, &["read", "write"]).await;
    let (b_id, b) = key_with_id(&server, &user, &["read"]).await;
    let p1 = server.create_prompt(&a, "one").await;
    let p2 = server.create_prompt(&a, "two").await;
    assert_eq!(
        get(&server, &a, &format!("{PROMPTS}/{p1}")).await.status(),
        200
    );
    assert_eq!(
        get(&server, &b, &format!("{PROMPTS}/{p2}")).await.status(),
        200
    );
    assert_eq!(
        get(&server, &b, &format!("{PROMPTS}/prm_missing"))
            .await
            .status(),
        404
    );
    wait_for_activity(&server, &user.id, &ActivityFilter::default(), 5).await;

    let count = |query: String| {
        let server = &server;
        let a = &a;
        async move {
            let page = json_with(get(server, a, &format!("{ACTIVITY}?{query}")).await, 200).await;
            page["items"].as_array().unwrap().len()
        }
    };
    // The checks' own rows (GETs by key a that touch no prompt) match none of these filters.
    assert_eq!(count(format!("keyId={b_id}")).await, 2);
    assert_eq!(count("method=POST".to_owned()).await, 2);
    assert_eq!(count("method=post".to_owned()).await, 2);
    assert_eq!(count("status=404".to_owned()).await, 1);
    assert_eq!(count(format!("promptId={p2}")).await, 2);
    assert_eq!(
        count(format!("promptId={p1}&keyId={a_id}&method=GET")).await,
        1
    );
    assert_eq!(count(format!("keyId={b_id}&status=200")).await, 1);
    let r = get(&server, &a, &format!("{ACTIVITY}?status=abc")).await;
    expect_problem(r, 400, "invalid_params").await;

    // Another user sees none of it.
    let (_, _, stranger) = user_with_key_id(&server, &["read"]).await;
    let page = json_with(
        get(&server, &stranger, &format!("{ACTIVITY}?keyId={a_id}")).await,
        200,
    )
    .await;
    assert!(page["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn activity_stats_count_total_today_active_keys_and_average_latency() {
    let server = TestServer::start().await;
    let (user, _, key) = user_with_key_id(&server, &["read"]).await;
    // Two valid keys count as active; a revoked and an expired one do not.
    key_with_id(&server, &user, &["read"]).await;
    let (revoked, _) = key_with_id(&server, &user, &["read"]).await;
    server.state.store().revoke_key(&revoked).await.unwrap();
    key_expiring(&server, &user, &["read"], Some(server.clock.now_ms() - 1)).await;

    for _ in 0..3 {
        assert_eq!(get(&server, &key, PROMPTS).await.status(), 200);
    }
    wait_for_activity(&server, &user.id, &ActivityFilter::default(), 3).await;
    server.clock.advance(Duration::from_secs(24 * 3600));
    for _ in 0..2 {
        assert_eq!(get(&server, &key, PROMPTS).await.status(), 200);
    }
    let rows = wait_for_activity(&server, &user.id, &ActivityFilter::default(), 5).await;
    assert_eq!(rows.len(), 5);

    let stats = json_with(get(&server, &key, STATS).await, 200).await;
    assert_eq!(stats["totalRequests"], 5);
    assert_eq!(stats["todayRequests"], 2);
    assert_eq!(stats["activeKeys"], 2);
    let average = rows.iter().map(|r| r.latency_us).sum::<i64>() as f64 / 5.0 / 1000.0;
    let reported = stats["averageResponseMs"].as_f64().unwrap();
    assert!((reported - average).abs() < 1e-9, "{reported} vs {average}");
    assert!(reported > 0.0);
}

#[tokio::test]
async fn a_streamed_run_is_audited_off_its_stream_with_fields_described_never_their_content() {
    let f = RunFixture::new().await;
    f.upstream.push(Scenario::text(["noted"]));
    let secret = "CONFIDENTIAL: the merger closes on Friday.";
    let events = f.run(json!({"userInput": secret})).await;
    let run_id = find(&events, "run_session")["runId"].as_str().unwrap();
    // The row comes with the background writer's next batch, after the stream started.
    let route = "/api/v2/public/prompts/{id}/run";
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let row = loop {
        let rows = f
            .server
            .state
            .store()
            .audit_for_user(&f.user_id)
            .await
            .unwrap();
        if let Some(row) = rows.into_iter().find(|r| r.route == route) {
            break row;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no audit row for the run"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(row.method, "POST");
    assert_eq!(row.status, 200);
    assert_eq!(row.object_id.as_deref(), Some(run_id));
    let fields: Value = serde_json::from_str(&row.fields).unwrap();
    assert_eq!(
        fields["userInput"],
        json!({"present": true, "length": secret.chars().count(), "sha256Prefix": sha256_prefix(secret)})
    );
    assert_eq!(fields["stream"]["present"], true);
    assert!(!row.fields.contains("CONFIDENTIAL"), "{}", row.fields);
}
