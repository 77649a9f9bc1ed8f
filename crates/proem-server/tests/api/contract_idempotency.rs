//! Idempotency-Key on POST, PUT, PATCH and DELETE (spec "Idempotency"): the header's shape, byte
//! for byte replays, reuse on another route or body, in-flight claims, per-user scope, the 24 h
//! expiry, outcome-unknown after a dead lease, release of failed requests, and the replay of a
//! run or revise (spec "run_replayed does not reflect post-replay state").

use std::time::Duration;

use proem_core::keys::KeyHash;
use proem_core::store::{Begin, IdemKey, StoredResponse};
use proem_testkit::{Scenario, TestServer};
use reqwest::header::HeaderValue;
use reqwest::{Method, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::contract_support::{
    PROMPTS, current_version, get, ids, json_with, prompt_body, user_with_key_id,
};
use super::run_support::{RunFixture, find, names, parse_sse};
use super::support::expect_problem;

const KEY_SCOPES: &[&str] = &["read", "write"];
/// The lease the server gives a claim: two request deadlines (2 × 30 s by default).
const LEASE_MS: i64 = 60_000;

/// Sends `method path` with `key`, an optional Idempotency-Key and a JSON `body` (exact bytes).
async fn send(
    server: &TestServer,
    key: &str,
    method: Method,
    path: &str,
    idem: Option<&str>,
    body: Option<&[u8]>,
) -> Response {
    let mut req = server
        .http
        .request(method, server.at(path))
        .header("x-api-key", key);
    if let Some(idem) = idem {
        req = req.header("idempotency-key", idem);
    }
    if let Some(body) = body {
        req = req
            .header("content-type", "application/json")
            .body(body.to_vec());
    }
    req.send().await.unwrap()
}

fn body_of(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

/// Status, the replayed headers and the body bytes of a response.
async fn snapshot(r: Response) -> (u16, Option<String>, Option<String>, bool, Vec<u8>) {
    let h = |name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (content_type, location) = (h("content-type"), h("location"));
    let replayed = h("idempotent-replayed").as_deref() == Some("true");
    (
        r.status().as_u16(),
        content_type,
        location,
        replayed,
        r.bytes().await.unwrap().to_vec(),
    )
}

#[tokio::test]
async fn idempotency_key_invalid_unless_1_to_255_visible_ascii_without_commas_sent_once() {
    let server = TestServer::start().await;
    let (_, _, key) = user_with_key_id(&server, KEY_SCOPES).await;
    let body = body_of(&prompt_body(&server, "shape"));
    let too_long = "k".repeat(256);
    let invalid: Vec<Vec<HeaderValue>> = vec![
        vec![HeaderValue::from_static("")],
        vec![HeaderValue::from_str(&too_long).unwrap()],
        vec![HeaderValue::from_static("a,b")],
        vec![HeaderValue::from_static("has space")],
        vec![HeaderValue::from_static("tab\there")],
        vec![HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()],
        vec![HeaderValue::from_static("a"), HeaderValue::from_static("a")],
    ];
    for values in invalid {
        let mut req = server
            .http
            .post(server.at(PROMPTS))
            .header("x-api-key", &key)
            .header("content-type", "application/json")
            .body(body.clone());
        for v in &values {
            req = req.header("idempotency-key", v.clone());
        }
        let r = req.send().await.unwrap();
        let problem = expect_problem(r, 400, "idempotency_key_invalid").await;
        assert_eq!(
            problem["invalid_params"][0]["name"], "Idempotency-Key",
            "{values:?}"
        );
    }
    // Nothing was created by the refused requests.
    let page = json_with(get(&server, &key, PROMPTS).await, 200).await;
    assert!(ids(&page).is_empty());

    // The edges of the allowed range are accepted.
    let every_visible: String = (0x21u8..=0x7e)
        .filter(|b| *b != b',')
        .map(char::from)
        .collect();
    let longest = "k".repeat(255);
    for ok in ["1", every_visible.as_str(), longest.as_str()] {
        let r = send(&server, &key, Method::POST, PROMPTS, Some(ok), Some(&body)).await;
        assert_eq!(r.status(), 201, "{ok}");
    }
}

#[tokio::test]
async fn idempotency_key_is_validated_on_put_patch_and_delete() {
    let server = TestServer::start().await;
    let (_, _, key) = user_with_key_id(&server, KEY_SCOPES).await;
    let id = server.create_prompt(&key, "target").await;
    let vid = current_version(&server, &key, &id).await;
    let prompt = format!("{PROMPTS}/{id}");
    for (method, path, body) in [
        (
            Method::PUT,
            format!("{prompt}/current-version"),
            Some(body_of(&json!({"versionId": vid}))),
        ),
        (
            Method::PATCH,
            prompt.clone(),
            Some(body_of(&json!({"name": "x"}))),
        ),
        (Method::DELETE, prompt.clone(), None),
    ] {
        let r = send(
            &server,
            &key,
            method.clone(),
            &path,
            Some("a,b"),
            body.as_deref(),
        )
        .await;
        expect_problem(r, 400, "idempotency_key_invalid").await;
    }
    // The prompt is untouched.
    let detail = json_with(get(&server, &key, &prompt).await, 200).await;
    assert_eq!(detail["name"], "target");
}

#[tokio::test]
async fn same_key_route_and_body_replays_status_headers_and_body_byte_for_byte() {
    let server = TestServer::start().await;
    let (_, _, key) = user_with_key_id(&server, KEY_SCOPES).await;
    let body = body_of(&prompt_body(&server, "once"));

    let first = send(
        &server,
        &key,
        Method::POST,
        PROMPTS,
        Some("k-1"),
        Some(&body),
    )
    .await;
    let first_request_id = first.headers()["x-request-id"].clone();
    let first = snapshot(first).await;
    assert_eq!(first.0, 201);
    assert!(!first.3, "the original answer is not a replay");
    assert!(
        first
            .2
            .as_deref()
            .unwrap()
            .starts_with("/api/v2/public/prompts/prm_")
    );

    for _ in 0..2 {
        let again = send(
            &server,
            &key,
            Method::POST,
            PROMPTS,
            Some("k-1"),
            Some(&body),
        )
        .await;
        assert_ne!(again.headers()["x-request-id"], first_request_id);
        let again = snapshot(again).await;
        assert_eq!(again.0, first.0);
        assert_eq!(again.1, first.1, "content-type");
        assert_eq!(again.2, first.2, "location");
        assert!(again.3, "Idempotent-Replayed: true");
        assert_eq!(again.4, first.4, "body bytes");
    }
    let page = json_with(get(&server, &key, PROMPTS).await, 200).await;
    assert_eq!(ids(&page).len(), 1);
}

#[tokio::test]
async fn put_patch_and_delete_replay_the_original_answer() {
    let server = TestServer::start().await;
    let (_, _, key) = user_with_key_id(&server, KEY_SCOPES).await;
    let id = server.create_prompt(&key, "original").await;
    let v1 = current_version(&server, &key, &id).await;
    let prompt = format!("{PROMPTS}/{id}");

    let rename = body_of(&json!({"name": "renamed"}));
    let patched = snapshot(
        send(
            &server,
            &key,
            Method::PATCH,
            &prompt,
            Some("p"),
            Some(&rename),
        )
        .await,
    )
    .await;
    assert_eq!(patched.0, 200);
    // Changed meanwhile by a request without a key: the replay still answers the original.
    let again = body_of(&json!({"name": "changed again"}));
    assert_eq!(
        send(&server, &key, Method::PATCH, &prompt, None, Some(&again))
            .await
            .status(),
        200
    );
    let replayed = snapshot(
        send(
            &server,
            &key,
            Method::PATCH,
            &prompt,
            Some("p"),
            Some(&rename),
        )
        .await,
    )
    .await;
    assert!(replayed.3);
    assert_eq!((replayed.0, replayed.4), (patched.0, patched.4.clone()));
    let detail = json_with(get(&server, &key, &prompt).await, 200).await;
    assert_eq!(detail["name"], "changed again", "a replay changes nothing");

    let switch = body_of(&json!({"versionId": v1}));
    let path = format!("{prompt}/current-version");
    let first =
        snapshot(send(&server, &key, Method::PUT, &path, Some("s"), Some(&switch)).await).await;
    let second =
        snapshot(send(&server, &key, Method::PUT, &path, Some("s"), Some(&switch)).await).await;
    assert_eq!(first.0, 200);
    assert!(second.3);
    assert_eq!((second.0, second.4), (first.0, first.4));

    let first = snapshot(send(&server, &key, Method::DELETE, &prompt, Some("d"), None).await).await;
    let second =
        snapshot(send(&server, &key, Method::DELETE, &prompt, Some("d"), None).await).await;
    assert_eq!(first.0, 200);
    assert!(second.3);
    assert_eq!((second.0, second.4), (first.0, first.4));
}

#[tokio::test]
async fn same_key_with_a_different_body_is_idempotency_key_reused() {
    let server = TestServer::start().await;
    let (_, _, key) = user_with_key_id(&server, KEY_SCOPES).await;
    let a = body_of(&prompt_body(&server, "a"));
    let b = body_of(&prompt_body(&server, "b"));
    assert_eq!(
        send(&server, &key, Method::POST, PROMPTS, Some("k"), Some(&a))
            .await
            .status(),
        201
    );
    let r = send(&server, &key, Method::POST, PROMPTS, Some("k"), Some(&b)).await;
    expect_problem(r, 409, "idempotency_key_reused").await;
    // Even a whitespace difference is a different body.
    let mut spaced = a.clone();
    spaced.push(b' ');
    let r = send(
        &server,
        &key,
        Method::POST,
        PROMPTS,
        Some("k"),
        Some(&spaced),
    )
    .await;
    expect_problem(r, 409, "idempotency_key_reused").await;
    let page = json_with(get(&server, &key, PROMPTS).await, 200).await;
    assert_eq!(ids(&page).len(), 1);
}

#[tokio::test]
async fn same_key_on_a_different_route_is_idempotency_key_reused() {
    let server = TestServer::start().await;
    let (_, _, key) = user_with_key_id(&server, KEY_SCOPES).await;
    let id = server.create_prompt(&key, "target").await;
    let rename = body_of(&json!({"name": "renamed"}));
    let path = format!("{PROMPTS}/{id}");
    assert_eq!(
        send(
            &server,
            &key,
            Method::PATCH,
            &path,
            Some("k"),
            Some(&rename)
        )
        .await
        .status(),
        200
    );
    // Another path, another method, the same path with a query: each is another route.
    let other = server.create_prompt(&key, "other").await;
    let elsewhere = [
        (Method::PATCH, format!("{PROMPTS}/{other}")),
        (Method::PUT, format!("{path}/current-version")),
        (Method::PATCH, format!("{path}?dryRun=1")),
    ];
    for (method, route) in elsewhere {
        let r = send(&server, &key, method, &route, Some("k"), Some(&rename)).await;
        expect_problem(r, 409, "idempotency_key_reused").await;
    }
    let detail = json_with(get(&server, &key, &format!("{PROMPTS}/{other}")).await, 200).await;
    assert_eq!(detail["name"], "other");
}

/// Claims `idem` for `user_id` exactly as the server would for `route` and `body`, as if a request
/// were still running (or its process had died).
async fn claim(server: &TestServer, user_id: &str, idem: &str, route: &str, body: &[u8]) {
    let mut hasher = Sha256::new();
    hasher.update(route.as_bytes());
    hasher.update([0]);
    hasher.update(body);
    let hash = KeyHash(hasher.finalize().into()).to_hex();
    let begin = server
        .state
        .store()
        .idempotency_begin(
            IdemKey {
                user_id,
                key: idem,
                route,
                request_hash: &hash,
            },
            LEASE_MS,
            b"{}",
        )
        .await
        .unwrap();
    assert_eq!(begin, Begin::Owner);
}

#[tokio::test]
async fn request_still_in_flight_is_idempotency_in_flight_with_retry_after_1() {
    let server = TestServer::start().await;
    let (user, _, key) = user_with_key_id(&server, KEY_SCOPES).await;
    let body = body_of(&prompt_body(&server, "busy"));
    claim(
        &server,
        &user.id,
        "busy",
        "POST /api/v2/public/prompts",
        &body,
    )
    .await;

    let r = send(
        &server,
        &key,
        Method::POST,
        PROMPTS,
        Some("busy"),
        Some(&body),
    )
    .await;
    assert_eq!(r.headers()["retry-after"], "1");
    expect_problem(r, 409, "idempotency_in_flight").await;
    // A different body with the same key is still a reuse, in flight or not.
    let other = body_of(&prompt_body(&server, "other"));
    let r = send(
        &server,
        &key,
        Method::POST,
        PROMPTS,
        Some("busy"),
        Some(&other),
    )
    .await;
    expect_problem(r, 409, "idempotency_key_reused").await;
    let page = json_with(get(&server, &key, PROMPTS).await, 200).await;
    assert!(ids(&page).is_empty());
}

#[tokio::test]
async fn dead_lease_replays_idempotency_outcome_unknown_until_it_expires() {
    let server = TestServer::start().await;
    let (user, _, key) = user_with_key_id(&server, KEY_SCOPES).await;
    let body = body_of(&prompt_body(&server, "crashed"));
    claim(
        &server,
        &user.id,
        "crash",
        "POST /api/v2/public/prompts",
        &body,
    )
    .await;
    server.clock.advance(Duration::from_millis(
        u64::try_from(LEASE_MS).unwrap() + 1_000,
    ));

    let r = send(
        &server,
        &key,
        Method::POST,
        PROMPTS,
        Some("crash"),
        Some(&body),
    )
    .await;
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let first = snapshot(r).await;
    assert_eq!(first.0, 500);
    let problem: Value = serde_json::from_slice(&first.4).unwrap();
    assert_eq!(problem["reason_code"], "idempotency_outcome_unknown");
    assert_eq!(problem["status"], 500);
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("POST /api/v2/public/prompts"), "{detail}");

    // Replayed verbatim, and nothing is created, until 24 h after the failure.
    server.clock.advance(Duration::from_secs(23 * 3600));
    let again = snapshot(
        send(
            &server,
            &key,
            Method::POST,
            PROMPTS,
            Some("crash"),
            Some(&body),
        )
        .await,
    )
    .await;
    assert_eq!((again.0, &again.4), (500, &first.4));
    assert!(again.3);
    let page = json_with(get(&server, &key, PROMPTS).await, 200).await;
    assert!(ids(&page).is_empty());

    server.clock.advance(Duration::from_secs(2 * 3600));
    let fresh = send(
        &server,
        &key,
        Method::POST,
        PROMPTS,
        Some("crash"),
        Some(&body),
    )
    .await;
    assert_eq!(fresh.status(), 201);
}

#[tokio::test]
async fn idempotency_keys_are_scoped_per_user() {
    let server = TestServer::start().await;
    let (_, _, alice) = user_with_key_id(&server, KEY_SCOPES).await;
    let (_, _, bob) = user_with_key_id(&server, KEY_SCOPES).await;
    let body = body_of(&prompt_body(&server, "shared key value"));
    let a = json_with(
        send(
            &server,
            &alice,
            Method::POST,
            PROMPTS,
            Some("same"),
            Some(&body),
        )
        .await,
        201,
    )
    .await;
    let b = json_with(
        send(
            &server,
            &bob,
            Method::POST,
            PROMPTS,
            Some("same"),
            Some(&body),
        )
        .await,
        201,
    )
    .await;
    assert_ne!(a["promptId"], b["promptId"]);
    // A different body is no reuse for the other user either.
    let other = body_of(&prompt_body(&server, "other"));
    let (_, _, carol) = user_with_key_id(&server, KEY_SCOPES).await;
    assert_eq!(
        send(
            &server,
            &carol,
            Method::POST,
            PROMPTS,
            Some("same"),
            Some(&other)
        )
        .await
        .status(),
        201
    );
}

#[tokio::test]
async fn completed_keys_expire_24_hours_after_completion_then_are_fresh() {
    let server = TestServer::start().await;
    let (_, _, key) = user_with_key_id(&server, KEY_SCOPES).await;
    let body = body_of(&prompt_body(&server, "daily"));
    let first = json_with(
        send(
            &server,
            &key,
            Method::POST,
            PROMPTS,
            Some("day"),
            Some(&body),
        )
        .await,
        201,
    )
    .await;

    server.clock.advance(Duration::from_secs(23 * 3600));
    let replay = send(
        &server,
        &key,
        Method::POST,
        PROMPTS,
        Some("day"),
        Some(&body),
    )
    .await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");

    server.clock.advance(Duration::from_secs(2 * 3600));
    let fresh = send(
        &server,
        &key,
        Method::POST,
        PROMPTS,
        Some("day"),
        Some(&body),
    )
    .await;
    assert!(fresh.headers().get("idempotent-replayed").is_none());
    let fresh = json_with(fresh, 201).await;
    assert_ne!(fresh["promptId"], first["promptId"]);
    let page = json_with(get(&server, &key, PROMPTS).await, 200).await;
    assert_eq!(ids(&page).len(), 2);
}

#[tokio::test]
async fn failed_request_releases_the_key_so_a_corrected_retry_runs() {
    let server = TestServer::start().await;
    let (_, _, key) = user_with_key_id(&server, KEY_SCOPES).await;
    let mut broken = prompt_body(&server, "fixed");
    broken["modelSettings"]["model_id"] = json!("nobody/nothing");
    let r = send(
        &server,
        &key,
        Method::POST,
        PROMPTS,
        Some("retry"),
        Some(&body_of(&broken)),
    )
    .await;
    expect_problem(r, 400, "invalid_model_settings").await;
    let r = send(
        &server,
        &key,
        Method::POST,
        PROMPTS,
        Some("retry"),
        Some(b"{"),
    )
    .await;
    expect_problem(r, 400, "invalid_request").await;

    let fixed = body_of(&prompt_body(&server, "fixed"));
    let r = send(
        &server,
        &key,
        Method::POST,
        PROMPTS,
        Some("retry"),
        Some(&fixed),
    )
    .await;
    assert_eq!(r.status(), 201);
    assert!(r.headers().get("idempotent-replayed").is_none());
    // From now on the key belongs to the successful request.
    let r = send(
        &server,
        &key,
        Method::POST,
        PROMPTS,
        Some("retry"),
        Some(&body_of(&broken)),
    )
    .await;
    expect_problem(r, 409, "idempotency_key_reused").await;
}

/// The SSE frames of a stream, keep-alive comments left out.
fn frames(text: &str) -> Vec<&str> {
    text.split_inclusive("\n\n")
        .filter(|f| !f.starts_with(':'))
        .collect()
}

#[tokio::test]
async fn a_retried_run_replays_the_same_bytes_even_after_the_run_was_finalized() {
    let f = RunFixture::new().await;
    let path = format!("/prompts/{}/run", f.prompt);
    let body = json!({"userInput": "x", "stream": true, "autoFinalize": false});
    let original = f.post_with_key(&path, body.clone(), "run-bytes").await;
    let original = parse_sse(&original.text().await.unwrap());
    let run_id = find(&original, "run_session")["runId"].as_str().unwrap();
    let first = f.post_with_key(&path, body.clone(), "run-bytes").await;
    assert_eq!(first.headers()["idempotent-replayed"], "true");
    let first = first.text().await.unwrap();
    assert_eq!(f.finalize(run_id, json!({})).await.status(), 200);
    let second = f.post_with_key(&path, body, "run-bytes").await;
    assert_eq!(second.text().await.unwrap(), first);
    // The snapshot is the turn as the original call started it, not the Finalized run.
    let events = parse_sse(&first);
    assert_eq!(names(&events), ["run_session", "run_replayed"]);
    let replayed = find(&events, "run_replayed");
    assert_eq!(replayed["runId"], run_id);
    assert_eq!(replayed["turnIndex"], 0);
    assert_eq!(replayed["state"], "Running");
    assert_eq!(replayed["streamingInProgress"], true);
    assert!(replayed.get("recordId").is_none(), "{replayed}");
    assert_eq!(f.upstream.requests().len(), 1, "no second upstream call");
}

#[tokio::test]
async fn a_retry_while_the_original_revise_streams_reports_the_streaming_turn() {
    let f = RunFixture::new().await;
    let run_id = f.active_run().await;
    f.upstream.push(
        Scenario::text(["a", "b", "c", "d"]).with_inter_token_delay(Duration::from_millis(400)),
    );
    let path = format!("/runs/{run_id}/revise");
    let body = json!({"instruction": "shorter", "stream": true, "autoFinalize": false});
    // The claim is complete once the stream's headers arrive; the original reads on meanwhile.
    let original = f.post_with_key(&path, body.clone(), "rev-live").await;
    let original = tokio::spawn(async move { original.text().await.unwrap() });
    let during = f.post_with_key(&path, body.clone(), "rev-live").await;
    let during = during.text().await.unwrap();
    assert_eq!(
        f.run_state(&run_id).await["state"],
        "Running",
        "the retry came while the revise streamed"
    );
    let events = parse_sse(&during);
    assert_eq!(names(&events), ["run_session", "run_replayed"]);
    assert_eq!(find(&events, "run_session")["turnIndex"], 1);
    let replayed = find(&events, "run_replayed");
    assert_eq!(replayed["turnIndex"], 1);
    assert_eq!(replayed["state"], "Running");
    assert_eq!(replayed["streamingInProgress"], true);
    let original = original.await.unwrap();
    assert_eq!(find(&parse_sse(&original), "run_completed")["turnIndex"], 1);
    assert_eq!(
        frames(&during)[0],
        frames(&original)[0],
        "the same run_session"
    );
    let after = f.post_with_key(&path, body, "rev-live").await;
    assert_eq!(after.text().await.unwrap(), during);
    assert_eq!(f.upstream.requests().len(), 2);
}

#[tokio::test]
async fn a_replayed_stream_starts_with_the_original_run_session() {
    let f = RunFixture::new().await;
    let events = f.run(json!({})).await;
    let record_id = find(&events, "record_finalized")["recordId"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/records/{record_id}/revise");
    let body = json!({"instruction": "shorter", "stream": true});
    let original = f.post_with_key(&path, body.clone(), "rec-rev").await;
    let original = original.text().await.unwrap();
    let replay = f.post_with_key(&path, body, "rec-rev").await;
    let replay = replay.text().await.unwrap();
    assert!(frames(&original)[0].starts_with("event: run_session\n"));
    assert_eq!(frames(&replay)[0], frames(&original)[0]);
    let events = parse_sse(&replay);
    assert_eq!(
        find(&events, "run_session")["seededFromRecordId"],
        record_id
    );
    // A record revise runs on a fresh run that saves into the same record.
    assert_eq!(find(&events, "run_replayed")["recordId"], record_id);
}

#[tokio::test]
async fn a_run_claim_stored_with_only_its_run_id_replays_from_the_live_run() {
    let f = RunFixture::new().await;
    let run_id = f.active_run().await;
    let path = format!("/api/v2/public/prompts/{}/run", f.prompt);
    let body = br#"{"userInput":"x","stream":true}"#;
    claim(
        &f.server,
        &f.user_id,
        "legacy",
        &format!("POST {path}"),
        body,
    )
    .await;
    // The outcome a run's claim stored before replays were snapshots.
    let legacy = StoredResponse {
        status: 200,
        headers: vec![("content-type".into(), "text/event-stream".into())],
        body: json!({ "runId": run_id }).to_string().into_bytes(),
    };
    let store = f.server.state.store();
    let mut conn = store.write_connection().await.unwrap();
    store
        .idempotency_complete(&mut conn, &f.user_id, "legacy", &legacy)
        .await
        .unwrap();
    drop(conn);
    let r = send(
        &f.server,
        &f.key,
        Method::POST,
        &path,
        Some("legacy"),
        Some(body),
    )
    .await;
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    let events = parse_sse(&r.text().await.unwrap());
    assert_eq!(names(&events), ["run_session", "run_replayed"]);
    let replayed = find(&events, "run_replayed");
    assert_eq!(replayed["runId"], run_id.as_str());
    assert_eq!(replayed["turnIndex"], 0);
    assert_eq!(replayed["state"], "Active");
    assert_eq!(f.upstream.requests().len(), 1);
}
