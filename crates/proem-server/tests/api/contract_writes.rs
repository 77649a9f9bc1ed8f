//! Write semantics (spec "Write"): RFC 7396 merge patch on `PATCH /prompts/{id}` (absent leaves a
//! field, `null` clears it), server-owned fields refused by name, and `If-Match` on
//! `PATCH /prompts/{id}/versions/{vid}` (`precondition_failed`).

use proem_testkit::TestServer;
use reqwest::Response;
use serde_json::{Value, json};

use super::contract_support::{PROMPTS, current_version, get, json_with, user_with_key_id};
use super::support::expect_problem;

const MERGE_PATCH: &str = "application/merge-patch+json";

async fn patch(
    server: &TestServer,
    key: &str,
    path: &str,
    body: Value,
    if_match: Option<&str>,
) -> Response {
    let mut req = server
        .http
        .patch(server.at(path))
        .header("x-api-key", key)
        .header("content-type", MERGE_PATCH)
        .body(serde_json::to_vec(&body).unwrap());
    if let Some(token) = if_match {
        req = req.header("if-match", token);
    }
    req.send().await.unwrap()
}

/// A prompt with an abbreviation: `(key, prompt path)`.
async fn prompt_with_abbreviation(server: &TestServer) -> (String, String) {
    let (_, _, key) = user_with_key_id(server, &["read", "write"]).await;
    let r = server
        .http
        .post(server.at(PROMPTS))
        .header("x-api-key", &key)
        .json(&json!({
            "name": "Summarizer",
            "abbreviation": "SUM",
            "promptText": "Summarize.",
            "modelSettings": server.model_settings(),
        }))
        .send()
        .await
        .unwrap();
    let id = json_with(r, 201).await["promptId"]
        .as_str()
        .unwrap()
        .to_owned();
    (key, format!("{PROMPTS}/{id}"))
}

#[tokio::test]
async fn merge_patch_leaves_missing_fields_unchanged() {
    let server = TestServer::start().await;
    let (key, path) = prompt_with_abbreviation(&server).await;
    let body = json_with(
        patch(&server, &key, &path, json!({"name": "Renamed"}), None).await,
        200,
    )
    .await;
    assert_eq!(
        (&body["name"], &body["abbreviation"]),
        (&json!("Renamed"), &json!("SUM"))
    );
    let body = json_with(patch(&server, &key, &path, json!({}), None).await, 200).await;
    assert_eq!(
        (&body["name"], &body["abbreviation"]),
        (&json!("Renamed"), &json!("SUM"))
    );
    let stored = json_with(get(&server, &key, &path).await, 200).await;
    assert_eq!(
        (&stored["name"], &stored["abbreviation"]),
        (&json!("Renamed"), &json!("SUM"))
    );
}

#[tokio::test]
async fn merge_patch_null_clears_the_abbreviation() {
    let server = TestServer::start().await;
    let (key, path) = prompt_with_abbreviation(&server).await;
    let body = json_with(
        patch(&server, &key, &path, json!({"abbreviation": null}), None).await,
        200,
    )
    .await;
    assert_eq!(body["abbreviation"], Value::Null);
    assert_eq!(body["name"], "Summarizer");
    let stored = json_with(get(&server, &key, &path).await, 200).await;
    assert_eq!(stored["abbreviation"], Value::Null);
}

#[tokio::test]
async fn merge_patch_null_name_is_invalid_request_required_field_clear() {
    let server = TestServer::start().await;
    let (key, path) = prompt_with_abbreviation(&server).await;
    let r = patch(
        &server,
        &key,
        &path,
        json!({"name": null, "abbreviation": "X"}),
        None,
    )
    .await;
    let body = expect_problem(r, 400, "invalid_request").await;
    assert_eq!(
        body["invalid_params"],
        json!([{"name": "name", "reason": "required_field_clear"}])
    );
    // Refused as a whole: the abbreviation in the same patch did not land.
    let stored = json_with(get(&server, &key, &path).await, 200).await;
    assert_eq!(
        (&stored["name"], &stored["abbreviation"]),
        (&json!("Summarizer"), &json!("SUM"))
    );
}

#[tokio::test]
async fn server_owned_fields_in_a_body_are_invalid_request_naming_the_field() {
    let server = TestServer::start().await;
    let (key, path) = prompt_with_abbreviation(&server).await;
    let vid = current_version(&server, &key, path.rsplit('/').next().unwrap()).await;
    let version = format!("{path}/versions/{vid}");
    for field in [
        "id",
        "createdAtUtc",
        "updatedAtUtc",
        "versionNumber",
        "userId",
    ] {
        for target in [&path, &version] {
            let r = patch(&server, &key, target, json!({ field: "x" }), None).await;
            let body = expect_problem(r, 400, "invalid_request").await;
            assert!(body["detail"].as_str().unwrap().contains(field), "{body}");
            assert_eq!(
                body["invalid_params"],
                json!([{"name": field, "reason": "server_owned_field"}])
            );
        }
        let r = server
            .http
            .post(server.at(PROMPTS))
            .header("x-api-key", &key)
            .json(&json!({
                "name": "n",
                "promptText": "t",
                "modelSettings": server.model_settings(),
                field: "x",
            }))
            .send()
            .await
            .unwrap();
        let body = expect_problem(r, 400, "invalid_request").await;
        assert_eq!(body["invalid_params"][0]["name"], field);
    }
}

/// `(key, version path, etag)` of a fresh prompt's first version.
async fn version_with_etag(server: &TestServer) -> (String, String, String) {
    let (_, _, key) = user_with_key_id(server, &["read", "write"]).await;
    let id = server.create_prompt(&key, "etagged").await;
    let vid = current_version(server, &key, &id).await;
    let path = format!("{PROMPTS}/{id}/versions/{vid}");
    let version = json_with(get(server, &key, &path).await, 200).await;
    let etag = version["etag"].as_str().unwrap().to_owned();
    (key, path, etag)
}

#[tokio::test]
async fn if_match_with_the_versions_etag_passes_quoted_or_bare() {
    let server = TestServer::start().await;
    let (key, path, etag) = version_with_etag(&server).await;
    let quoted = format!("\"{etag}\"");
    let body = json_with(
        patch(
            &server,
            &key,
            &path,
            json!({"versionDescription": "one"}),
            Some(&quoted),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(body["versionDescription"], "one");
    let next = body["etag"].as_str().unwrap().to_owned();
    assert_ne!(next, etag, "a write moves the etag");
    let body = json_with(
        patch(
            &server,
            &key,
            &path,
            json!({"versionDescription": "two"}),
            Some(&next),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(body["versionDescription"], "two");
    // Without If-Match the write is unconditional.
    let r = patch(
        &server,
        &key,
        &path,
        json!({"versionDescription": "three"}),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn if_match_mismatch_or_malformed_is_precondition_failed() {
    let server = TestServer::start().await;
    let (key, path, stale) = version_with_etag(&server).await;
    let r = patch(
        &server,
        &key,
        &path,
        json!({"versionDescription": "moved"}),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    let weak = format!("W/\"{stale}\"");
    for token in [
        stale.as_str(),
        "xyz",
        "0",
        "",
        "\"\"",
        "ABCDEF",
        weak.as_str(),
    ] {
        let r = patch(
            &server,
            &key,
            &path,
            json!({"versionDescription": "lost"}),
            Some(token),
        )
        .await;
        expect_problem(r, 412, "precondition_failed").await;
    }
    let version = json_with(get(&server, &key, &path).await, 200).await;
    assert_eq!(version["versionDescription"], "moved");
}
