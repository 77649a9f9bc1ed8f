//! Records over HTTP (spec "Record DTO turns[]", "Record self-management", `GET /records`): the
//! filtered, truncated list; `turns[]`; merge-patch with the edit-delta rules; manual records;
//! self-delete; revise from a record; the image route; and the usage row every upstream call writes.

use std::time::Duration;

use proem_testkit::{Scenario, test_model_id};
use reqwest::Response;
use serde_json::{Value, json};

use super::contract_support::{ids, json_with, key_with_id};
use super::run_support::{RunFixture, Sse, find, parse_sse};
use super::support::expect_problem;

const SCOPES: &[&str] = &["read", "execute", "write"];

// ── Helpers ──────────────────────────────────────────────────────────────────────────────────

/// Another key of the fixture's user: `(key id, plaintext)`.
async fn sibling_key(f: &RunFixture) -> (String, String) {
    let user = f
        .server
        .state
        .store()
        .user_by_id(&f.user_id)
        .await
        .unwrap()
        .unwrap();
    key_with_id(&f.server, &user, SCOPES).await
}

async fn record(f: &RunFixture, id: &str) -> Value {
    json_with(f.get(&format!("/records/{id}")).await, 200).await
}

async fn list_as(f: &RunFixture, key: &str, query: &[(&str, &str)]) -> Response {
    let url = reqwest::Url::parse_with_params(&f.url("/records"), query).unwrap();
    f.server
        .http
        .get(url)
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
}

async fn list(f: &RunFixture, query: &[(&str, &str)]) -> Value {
    json_with(list_as(f, &f.key, query).await, 200).await
}

async fn patch_as(f: &RunFixture, key: &str, id: &str, body: Value) -> Response {
    f.server
        .http
        .patch(f.url(&format!("/records/{id}")))
        .header("x-api-key", key)
        .header("content-type", "application/merge-patch+json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

async fn patch(f: &RunFixture, id: &str, body: Value) -> Value {
    json_with(patch_as(f, &f.key, id, body).await, 200).await
}

/// A refused patch answers `status`/`code` and leaves the record exactly as it was.
async fn refused(f: &RunFixture, id: &str, body: Value, status: u16, code: &str) {
    let before = record(f, id).await;
    expect_problem(patch_as(f, &f.key, id, body).await, status, code).await;
    assert_eq!(record(f, id).await, before, "{code} changed the record");
}

async fn delete_as(f: &RunFixture, key: &str, id: &str) -> Response {
    f.server
        .http
        .delete(f.url(&format!("/records/{id}")))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
}

async fn stream_as(f: &RunFixture, key: &str, path: &str, body: Value) -> Vec<Sse> {
    let r = f
        .server
        .http
        .post(f.url(path))
        .header("x-api-key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{path}");
    parse_sse(&r.text().await.unwrap())
}

fn str_of(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

/// The record of an auto-finalized run on the fixture's prompt whose model answers `output`.
async fn run_record(f: &RunFixture, output: &str) -> String {
    f.upstream.push(Scenario::text([output]));
    str_of(&find(&f.run(json!({})).await, "record_finalized")["recordId"])
}

/// A record of run "A" revised to "B" then "C", finalized plain: `(run id, record id)`.
async fn revised_record(f: &RunFixture) -> (String, String) {
    f.upstream.push(Scenario::text(["A"]));
    let run_id = f.active_run().await;
    for output in ["B", "C"] {
        f.upstream.push(Scenario::text([output]));
        f.revise(&run_id, json!({})).await;
    }
    let body = json_with(f.finalize(&run_id, json!({})).await, 200).await;
    (run_id, str_of(&body["recordId"]))
}

async fn manual_record(f: &RunFixture, input: &str, output: &str) -> String {
    let r = f
        .post(
            "/records",
            json!({"promptId": f.prompt, "input": input, "output": output}),
        )
        .await;
    str_of(&json_with(r, 201).await["id"])
}

fn turn_shape(record: &Value) -> Vec<(String, String)> {
    record["turns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (str_of(&t["kind"]), str_of(&t["output"])))
        .collect()
}

fn shape(turns: &[(&str, &str)]) -> Vec<(String, String)> {
    turns
        .iter()
        .map(|(k, o)| ((*k).to_owned(), (*o).to_owned()))
        .collect()
}

// ── GET /records ─────────────────────────────────────────────────────────────────────────────

#[tokio::test]
async fn list_is_newest_first_with_a_cursor_absent_on_the_last_page() {
    let f = RunFixture::new().await;
    let first = manual_record(&f, "in 1", "out 1").await;
    let second = run_record(&f, "out 2").await;
    let third = manual_record(&f, "in 3", "out 3").await;
    let page = list(&f, &[("limit", "2")]).await;
    assert_eq!(ids(&page), vec![third.clone(), second.clone()]);
    let cursor = str_of(&page["nextCursor"]);
    let last = list(&f, &[("limit", "2"), ("cursor", cursor.as_str())]).await;
    assert_eq!(ids(&last), vec![first.clone()]);
    assert_eq!(last.get("nextCursor"), None, "absent, not null: {last}");
    let all = list(&f, &[]).await;
    assert_eq!(ids(&all), vec![third, second, first]);
    assert_eq!(all.get("nextCursor"), None);
}

#[tokio::test]
async fn list_filters_by_prompt_version_source_key_idempotency_key_and_run() {
    let f = RunFixture::new().await;
    let (sibling_id, sibling) = sibling_key(&f).await;
    let other_prompt = f.server.create_prompt(&f.key, "Other").await;
    // rec_a: a run on the prompt's first version, with an Idempotency-Key.
    let run_path = format!("/prompts/{}/run", f.prompt);
    let r = f
        .post_with_key(
            &run_path,
            json!({"userInput": "a", "stream": true}),
            "idem-a",
        )
        .await;
    let rec_a = str_of(&find(&parse_sse(&r.text().await.unwrap()), "record_finalized")["recordId"]);
    // rec_manual: a manual record on the same prompt.
    let rec_manual = manual_record(&f, "m in", "m out").await;
    // rec_v2: a run on a second version.
    let v2 = json_with(
        f.post(
            &format!("/prompts/{}/versions", f.prompt),
            json!({"promptText": "Two bullets.", "modelSettings": f.server.model_settings()}),
        )
        .await,
        201,
    )
    .await;
    let v2 = str_of(&v2["id"]);
    let rec_v2 =
        str_of(&find(&f.run(json!({"versionId": v2})).await, "record_finalized")["recordId"]);
    // rec_other: another key's run on another prompt.
    let events = stream_as(
        &f,
        &sibling,
        &format!("/prompts/{other_prompt}/run"),
        json!({"userInput": "o", "stream": true}),
    )
    .await;
    let rec_other = str_of(&find(&events, "record_finalized")["recordId"]);
    let other_run = str_of(&find(&events, "run_session")["runId"]);

    let cases: Vec<(Vec<(&str, &str)>, Vec<&String>)> = vec![
        (
            vec![("promptId", f.prompt.as_str())],
            vec![&rec_v2, &rec_manual, &rec_a],
        ),
        (vec![("versionId", v2.as_str())], vec![&rec_v2]),
        (vec![("source", "api")], vec![&rec_other, &rec_v2, &rec_a]),
        (vec![("source", "MANUAL")], vec![&rec_manual]),
        (vec![("source", "Headless")], vec![]),
        (vec![("createdBy", sibling_id.as_str())], vec![&rec_other]),
        (vec![("clientIdempotencyKey", "idem-a")], vec![&rec_a]),
        (vec![("runSessionId", other_run.as_str())], vec![&rec_other]),
        (
            vec![("promptId", f.prompt.as_str()), ("source", "API")],
            vec![&rec_v2, &rec_a],
        ),
    ];
    for (query, expected) in cases {
        let page = list(&f, &query).await;
        let expected: Vec<String> = expected.into_iter().cloned().collect();
        assert_eq!(ids(&page), expected, "{query:?}");
    }
    let body = expect_problem(
        list_as(&f, &f.key, &[("source", "bogus")]).await,
        400,
        "invalid_source",
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("bogus"));
}

#[tokio::test]
async fn list_truncates_input_and_output_at_max_chars_with_flags() {
    let f = RunFixture::new().await;
    let long_in = "i".repeat(5000);
    let long_out = "o".repeat(6000);
    let id = manual_record(&f, &long_in, &long_out).await;
    let item = |page: &Value| page["items"][0].clone();
    // Default 4096 each.
    let d = item(&list(&f, &[]).await);
    assert_eq!(d["id"], id.as_str());
    assert_eq!(d["inputText"].as_str().unwrap().len(), 4096);
    assert_eq!(d["outputText"].as_str().unwrap().len(), 4096);
    assert_eq!(
        (&d["inputTruncated"], &d["truncated"]),
        (&json!(true), &json!(true))
    );
    // Explicit limits, each side on its own.
    let d = item(&list(&f, &[("maxInputChars", "10"), ("maxOutputChars", "0")]).await);
    assert_eq!(d["inputText"], "i".repeat(10));
    assert_eq!(d["outputText"], "");
    assert_eq!(
        (&d["inputTruncated"], &d["truncated"]),
        (&json!(true), &json!(true))
    );
    let d = item(
        &list(
            &f,
            &[("maxInputChars", "32768"), ("maxOutputChars", "6000")],
        )
        .await,
    );
    assert_eq!(d["inputText"], long_in.as_str());
    assert_eq!(d["outputText"], long_out.as_str());
    assert_eq!(
        (&d["inputTruncated"], &d["truncated"]),
        (&json!(false), &json!(false))
    );
    // A single read is never truncated.
    let full = record(&f, &id).await;
    assert_eq!(full["outputText"], long_out.as_str());
    assert_eq!(full["truncated"], false);
    for (name, value) in [
        ("maxInputChars", "-1"),
        ("maxInputChars", "32769"),
        ("maxOutputChars", "-1"),
        ("maxOutputChars", "32769"),
    ] {
        expect_problem(
            list_as(&f, &f.key, &[(name, value)]).await,
            400,
            "param_out_of_range",
        )
        .await;
    }
    for (name, value) in [("maxInputChars", "ten"), ("maxOutputChars", "1.5")] {
        expect_problem(
            list_as(&f, &f.key, &[(name, value)]).await,
            400,
            "invalid_params",
        )
        .await;
    }
}

#[tokio::test]
async fn records_of_a_deleted_prompt_disappear() {
    let f = RunFixture::new().await;
    let other_prompt = f.server.create_prompt(&f.key, "Doomed").await;
    let kept = manual_record(&f, "in", "out").await;
    let doomed = json_with(
        f.post(
            "/records",
            json!({"promptId": other_prompt, "input": "x", "output": "y"}),
        )
        .await,
        201,
    )
    .await;
    let doomed = str_of(&doomed["id"]);
    assert_eq!(
        ids(&list(&f, &[]).await),
        vec![doomed.clone(), kept.clone()]
    );
    let r = f
        .server
        .http
        .delete(f.url(&format!("/prompts/{other_prompt}")))
        .header("x-api-key", &f.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(ids(&list(&f, &[]).await), vec![kept]);
    expect_problem(
        f.get(&format!("/records/{doomed}")).await,
        404,
        "record_not_found",
    )
    .await;
}

#[tokio::test]
async fn a_key_restricted_by_grants_lists_and_reads_only_granted_prompts_records() {
    let f = RunFixture::new().await;
    let (restricted_id, restricted) = sibling_key(&f).await;
    let other_prompt = f.server.create_prompt(&f.key, "Hidden").await;
    let granted = manual_record(&f, "in", "out").await;
    let hidden = json_with(
        f.post(
            "/records",
            json!({"promptId": other_prompt, "input": "x", "output": "y"}),
        )
        .await,
        201,
    )
    .await;
    let hidden = str_of(&hidden["id"]);
    f.server
        .state
        .store()
        .grant_prompt(&restricted_id, &f.prompt)
        .await
        .unwrap();
    let page = json_with(list_as(&f, &restricted, &[]).await, 200).await;
    assert_eq!(ids(&page), vec![granted]);
    expect_problem(
        list_as(&f, &restricted, &[("promptId", other_prompt.as_str())]).await,
        403,
        "grant_required",
    )
    .await;
    let r = f
        .server
        .http
        .get(f.url(&format!("/records/{hidden}")))
        .header("x-api-key", &restricted)
        .send()
        .await
        .unwrap();
    expect_problem(r, 403, "grant_required").await;
    // The unrestricted key still sees both.
    assert_eq!(list(&f, &[]).await["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn another_users_record_is_record_not_found() {
    let f = RunFixture::new().await;
    let id = manual_record(&f, "in", "out").await;
    let (_, stranger) = f.server.user_with_key(SCOPES).await;
    let r = f
        .server
        .http
        .get(f.url(&format!("/records/{id}")))
        .header("x-api-key", &stranger)
        .send()
        .await
        .unwrap();
    expect_problem(r, 404, "record_not_found").await;
    expect_problem(
        patch_as(&f, &stranger, &id, json!({"notes": "x"})).await,
        404,
        "record_not_found",
    )
    .await;
    expect_problem(delete_as(&f, &stranger, &id).await, 404, "record_not_found").await;
    let page = json_with(list_as(&f, &stranger, &[]).await, 200).await;
    assert!(ids(&page).is_empty());
    expect_problem(f.get("/records/rec_missing").await, 404, "record_not_found").await;
}

// ── GET /records/{id} ────────────────────────────────────────────────────────────────────────

#[tokio::test]
async fn turns_of_run_revise_and_finalize_with_edit_match_the_specs_example() {
    let f = RunFixture::new().await;
    f.upstream.push(Scenario::text(["X"]).with_usage(1000, 500));
    let r = f
        .post_with_key(
            &format!("/prompts/{}/run", f.prompt),
            json!({"userInput": "Summarize this article: ...", "stream": true, "autoFinalize": false}),
            "client-key-7",
        )
        .await;
    let run_id = str_of(&find(&parse_sse(&r.text().await.unwrap()), "run_completed")["runId"]);
    f.upstream
        .push(Scenario::text(["Y"]).with_usage(2000, 1000));
    f.revise(&run_id, json!({"instruction": "make formal"}))
        .await;
    let finalized = json_with(
        f.finalize(
            &run_id,
            json!({"finalText": "Y_edited", "tag": "user-edit"}),
        )
        .await,
        200,
    )
    .await;
    let record = record(&f, &str_of(&finalized["recordId"])).await;
    // 1000 × 100000 + 500 × 400000 per Mtok = 300; 2000 × 100000 + 1000 × 400000 = 600.
    assert_eq!(
        record["turns"],
        json!([
            { "index": 0, "kind": "run", "input": "Summarize this article: ...", "output": "X" },
            { "index": 1, "kind": "revision", "instruction": "make formal",
              "intermediateOutput": "X", "output": "Y", "modelId": test_model_id(), "costMilliCents": 600 },
            { "index": 2, "kind": "edit", "intermediateOutput": "Y",
              "output": "Y_edited", "tag": "user-edit" }
        ])
    );
    assert_eq!(record["turns"], finalized["turns"]);
    assert_eq!(record["inputText"], "Summarize this article: ...");
    assert_eq!(record["finalCopiedOutput"], "Y_edited");
    assert_eq!(record["outputText"], "Y_edited");
    assert_eq!(record["tag"], "user-edit");
    assert_eq!(record["revisionCount"], 1);
    assert_eq!(record["editCount"], 1);
    assert_eq!(record["isOneShot"], false);
    assert_eq!(record["costMilliCents"], 900);
    assert_eq!(record["clientIdempotencyKey"], "client-key-7");
    assert_eq!(record["runSessionId"], run_id.as_str());
    assert_eq!(record["source"], "API");
}

#[tokio::test]
async fn a_run_turns_output_is_what_the_revision_saw_as_prior_context() {
    let f = RunFixture::new().await;
    f.upstream.push(Scenario::text(["X"]));
    let run_id = f.active_run().await;
    f.upstream.push(Scenario::text(["Y"]));
    f.revise(&run_id, json!({"intermediateOutput": "X, as I edited it"}))
        .await;
    let body = json_with(f.finalize(&run_id, json!({})).await, 200).await;
    let record = record(&f, &str_of(&body["recordId"])).await;
    assert_eq!(
        turn_shape(&record),
        shape(&[("run", "X, as I edited it"), ("revision", "Y")])
    );
    assert_eq!(
        record["turns"][1]["intermediateOutput"],
        "X, as I edited it"
    );
    assert_eq!(record["editCount"], 0);
    assert_eq!(record["clientIdempotencyKey"], Value::Null);
}

// ── PATCH /records/{id} ──────────────────────────────────────────────────────────────────────

#[tokio::test]
async fn patch_output_creates_then_updates_then_reverts_the_edit_delta() {
    let f = RunFixture::new().await;
    let id = run_record(&f, "model says").await;
    let patched = patch(&f, &id, json!({"output": "first edit"})).await;
    assert_eq!(patched["output"], "first edit");
    let r = record(&f, &id).await;
    assert_eq!(r["editCount"], 1);
    assert_eq!(r["finalCopiedOutput"], "first edit");
    assert_eq!(r["turns"][1]["intermediateOutput"], "model says");
    assert_eq!(r["turns"][1]["output"], "first edit");
    // A second output updates the same delta; its intermediateOutput stays the model's output.
    patch(&f, &id, json!({"output": "second edit"})).await;
    let r = record(&f, &id).await;
    assert_eq!(r["editCount"], 1);
    assert_eq!(
        turn_shape(&r),
        shape(&[("run", "model says"), ("edit", "second edit")])
    );
    assert_eq!(r["turns"][1]["intermediateOutput"], "model says");
    // Writing the model's output back removes the edit.
    let patched = patch(&f, &id, json!({"output": "model says"})).await;
    assert_eq!(patched["output"], "model says");
    assert_eq!(patched["tag"], Value::Null);
    let r = record(&f, &id).await;
    assert_eq!(r["editCount"], 0);
    assert_eq!(r["isOneShot"], true);
    assert_eq!(turn_shape(&r), shape(&[("run", "model says")]));
}

#[tokio::test]
async fn reverting_output_with_a_tag_is_tag_would_be_lost_on_revert() {
    let f = RunFixture::new().await;
    let id = run_record(&f, "model says").await;
    patch(&f, &id, json!({"output": "edited"})).await;
    refused(
        &f,
        &id,
        json!({"output": "model says", "tag": "Less formal"}),
        400,
        "tag_would_be_lost_on_revert",
    )
    .await;
}

#[tokio::test]
async fn tag_without_an_edit_is_refused_by_the_documented_code() {
    let f = RunFixture::new().await;
    let id = run_record(&f, "model says").await;
    refused(
        &f,
        &id,
        json!({"tag": "Less formal"}),
        400,
        "tag_requires_output",
    )
    .await;
    refused(
        &f,
        &id,
        json!({"output": "model says", "tag": "Less formal"}),
        400,
        "tag_requires_distinct_output",
    )
    .await;
    refused(&f, &id, json!({"tag": null}), 409, "record_no_edit_delta").await;
    refused(
        &f,
        &id,
        json!({"output": "x", "tag": "  "}),
        400,
        "invalid_params",
    )
    .await;
    refused(&f, &id, json!({"output": "   "}), 400, "invalid_params").await;
    refused(&f, &id, json!({"output": null}), 400, "invalid_request").await;
    refused(&f, &id, json!({"input": null}), 400, "invalid_request").await;
    refused(&f, &id, json!({"unknown": 1}), 400, "invalid_request").await;
}

#[tokio::test]
async fn tag_with_a_distinct_output_anchors_and_a_tag_only_update_needs_an_existing_edit() {
    let f = RunFixture::new().await;
    let id = run_record(&f, "model says").await;
    let patched = patch(&f, &id, json!({"output": "edited", "tag": "Less formal"})).await;
    assert_eq!(patched["tag"], "Less formal");
    let patched = patch(&f, &id, json!({"tag": "Remove em-dashes"})).await;
    assert_eq!(patched["tag"], "Remove em-dashes");
    assert_eq!(patched["output"], "edited");
    let r = record(&f, &id).await;
    assert_eq!(r["tag"], "Remove em-dashes");
    assert_eq!(r["turns"][1]["tag"], "Remove em-dashes");
    assert_eq!(r["editCount"], 1);
    // null clears the tag and keeps the edit.
    let patched = patch(&f, &id, json!({"tag": null})).await;
    assert_eq!(patched["tag"], Value::Null);
    let r = record(&f, &id).await;
    assert_eq!(r["editCount"], 1);
    assert_eq!(r["turns"][1].get("tag"), None);
}

#[tokio::test]
async fn notes_are_set_and_cleared_on_any_record() {
    let f = RunFixture::new().await;
    let id = run_record(&f, "model says").await;
    let patched = patch(&f, &id, json!({"notes": "good example"})).await;
    assert_eq!(patched["notes"], "good example");
    assert_eq!(record(&f, &id).await["notes"], "good example");
    // A missing key leaves notes alone.
    patch(&f, &id, json!({"output": "edited"})).await;
    assert_eq!(record(&f, &id).await["notes"], "good example");
    let patched = patch(&f, &id, json!({"notes": null})).await;
    assert_eq!(patched["notes"], Value::Null);
    let r = record(&f, &id).await;
    assert_eq!(r["notes"], Value::Null);
    assert_eq!(r["editCount"], 1, "clearing notes leaves the edit");
}

#[tokio::test]
async fn patch_response_is_id_notes_tag_input_output_last_patched_at() {
    let f = RunFixture::new().await;
    let id = run_record(&f, "model says").await;
    assert_eq!(record(&f, &id).await["lastPatchedAtUtc"], Value::Null);
    let patched = patch(
        &f,
        &id,
        json!({"input": "new input", "output": "edited", "tag": "t", "notes": "n"}),
    )
    .await;
    let mut keys: Vec<&str> = patched
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        vec!["id", "input", "lastPatchedAtUtc", "notes", "output", "tag"]
    );
    assert_eq!(
        (
            &patched["id"],
            &patched["input"],
            &patched["output"],
            &patched["tag"],
            &patched["notes"]
        ),
        (
            &json!(id),
            &json!("new input"),
            &json!("edited"),
            &json!("t"),
            &json!("n")
        )
    );
    let at = str_of(&patched["lastPatchedAtUtc"]);
    assert!(at.ends_with('Z'), "{at}");
    let r = record(&f, &id).await;
    assert_eq!(r["lastPatchedAtUtc"], at.as_str());
    assert_eq!(r["inputText"], "new input");
    assert_eq!(r["turns"][0]["input"], "new input");
}

#[tokio::test]
async fn from_turn_reverts_to_that_deltas_intermediate_output_and_drops_later_deltas() {
    let f = RunFixture::new().await;
    let (_, id) = revised_record(&f).await;
    patch(&f, &id, json!({"output": "C edited", "tag": "t"})).await;
    let r = record(&f, &id).await;
    assert_eq!(
        turn_shape(&r),
        shape(&[
            ("run", "A"),
            ("revision", "B"),
            ("revision", "C"),
            ("edit", "C edited")
        ])
    );
    // Turn 3 is the last: the valid range is 0..=2.
    refused(
        &f,
        &id,
        json!({"fromTurn": 3}),
        400,
        "from_turn_out_of_range",
    )
    .await;
    refused(&f, &id, json!({"fromTurn": -1}), 400, "from_turn_invalid").await;
    refused(
        &f,
        &id,
        json!({"fromTurn": "one"}),
        400,
        "from_turn_invalid",
    )
    .await;
    refused(
        &f,
        &id,
        json!({"fromTurn": 1, "output": "x"}),
        400,
        "invalid_request",
    )
    .await;
    refused(
        &f,
        &id,
        json!({"fromTurn": 1, "tag": "x"}),
        400,
        "invalid_request",
    )
    .await;

    let patched = patch(&f, &id, json!({"fromTurn": 2})).await;
    assert_eq!(patched["output"], "C");
    assert_eq!(patched["tag"], Value::Null);
    let r = record(&f, &id).await;
    assert_eq!(
        turn_shape(&r),
        shape(&[("run", "A"), ("revision", "B"), ("revision", "C")])
    );
    assert_eq!(
        (&r["editCount"], &r["revisionCount"]),
        (&json!(0), &json!(2))
    );

    patch(&f, &id, json!({"fromTurn": 1})).await;
    let r = record(&f, &id).await;
    assert_eq!(turn_shape(&r), shape(&[("run", "A"), ("revision", "B")]));
    assert_eq!(r["finalCopiedOutput"], "B");

    patch(&f, &id, json!({"fromTurn": 0})).await;
    let r = record(&f, &id).await;
    assert_eq!(turn_shape(&r), shape(&[("run", "A")]));
    assert_eq!(r["isOneShot"], true);
    // A one-shot record has no turn to go back to.
    refused(
        &f,
        &id,
        json!({"fromTurn": 0}),
        400,
        "from_turn_out_of_range",
    )
    .await;
}

#[tokio::test]
async fn patch_caps_are_413_with_their_codes() {
    let f = RunFixture::new().await;
    let id = run_record(&f, "model says").await;
    let kb = |n: usize| "x".repeat(n * 1024 + 1);
    refused(&f, &id, json!({"notes": kb(64)}), 413, "notes_too_large").await;
    refused(
        &f,
        &id,
        json!({"output": "e", "tag": kb(64)}),
        413,
        "tag_too_large",
    )
    .await;
    refused(&f, &id, json!({"output": kb(256)}), 413, "output_too_large").await;
    refused(&f, &id, json!({"input": kb(256)}), 413, "input_too_large").await;
    // Exactly at the caps is accepted.
    let patched = patch(
        &f,
        &id,
        json!({"notes": "n".repeat(64 * 1024), "output": "o".repeat(256 * 1024),
               "input": "i".repeat(256 * 1024), "tag": "t".repeat(64 * 1024)}),
    )
    .await;
    assert_eq!(patched["output"].as_str().unwrap().len(), 256 * 1024);
}

#[tokio::test]
async fn only_the_creating_key_may_patch_or_delete_a_record() {
    let f = RunFixture::new().await;
    let id = run_record(&f, "model says").await;
    let (_, sibling) = sibling_key(&f).await;
    let before = record(&f, &id).await;
    expect_problem(
        patch_as(&f, &sibling, &id, json!({"notes": "mine"})).await,
        403,
        "record_not_owned_by_api_key",
    )
    .await;
    expect_problem(
        delete_as(&f, &sibling, &id).await,
        403,
        "record_not_owned_by_api_key",
    )
    .await;
    assert_eq!(record(&f, &id).await, before);
    // Reading is not restricted to the creating key.
    let r = f
        .server
        .http
        .get(f.url(&format!("/records/{id}")))
        .header("x-api-key", &sibling)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

// ── Manual records ───────────────────────────────────────────────────────────────────────────

#[tokio::test]
async fn manual_record_is_created_with_source_manual_and_no_version() {
    let f = RunFixture::new().await;
    let r = f
        .post(
            "/records",
            json!({"promptId": f.prompt, "input": "seed in", "output": "seed out", "notes": "curated"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    let id = str_of(&body["id"]);
    assert!(id.starts_with("rec_"), "{id}");
    assert_eq!(location, format!("/api/v2/public/records/{id}"));
    assert_eq!(body["source"], "Manual");
    assert_eq!(body["versionId"], Value::Null);
    assert_eq!(body["runSessionId"], Value::Null);
    assert_eq!(body["promptId"], f.prompt.as_str());
    assert_eq!(body["notes"], "curated");
    assert_eq!(body["costMilliCents"], 0);
    assert_eq!(
        body["turns"],
        json!([{ "index": 0, "kind": "run", "input": "seed in", "output": "seed out" }])
    );
    assert_eq!(
        (&body["revisionCount"], &body["editCount"]),
        (&json!(0), &json!(0))
    );
    assert_eq!(record(&f, &id).await, body);
    assert!(f.upstream.requests().is_empty(), "no model call");
}

#[tokio::test]
async fn manual_record_refuses_empty_or_whitespace_input_and_output() {
    let f = RunFixture::new().await;
    for (input, output) in [("  ", "out"), ("in", "\n\t"), ("", "out"), ("in", "")] {
        expect_problem(
            f.post(
                "/records",
                json!({"promptId": f.prompt, "input": input, "output": output}),
            )
            .await,
            400,
            "invalid_params",
        )
        .await;
    }
    assert!(ids(&list(&f, &[]).await).is_empty());
}

#[tokio::test]
async fn manual_record_idempotency_key_replays_the_same_payload_and_refuses_another() {
    let f = RunFixture::new().await;
    let body =
        json!({"promptId": f.prompt, "input": "in", "output": "out", "idempotencyKey": "seed-1"});
    let first = json_with(f.post("/records", body.clone()).await, 201).await;
    let again = json_with(f.post("/records", body).await, 200).await;
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["clientIdempotencyKey"], "seed-1");
    expect_problem(
        f.post(
            "/records",
            json!({"promptId": f.prompt, "input": "in", "output": "other", "idempotencyKey": "seed-1"}),
        )
        .await,
        409,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(ids(&list(&f, &[]).await), vec![str_of(&first["id"])]);
}

#[tokio::test]
async fn the_thousand_and_first_manual_record_is_prompt_record_cap_reached() {
    let f = RunFixture::new().await;
    f.server
        .sql(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 999) \
             INSERT INTO records (id, user_id, prompt_id, source, input_text, model_output, final_output, deltas, created_at, updated_at) \
             SELECT 'rec_seed' || CAST(i AS TEXT), '{}', '{}', 'Manual', 'in', 'out', 'out', '[]', 0, 0 FROM n",
            f.user_id, f.prompt
        ))
        .await;
    manual_record(&f, "the thousandth", "fits").await;
    expect_problem(
        f.post(
            "/records",
            json!({"promptId": f.prompt, "input": "one more", "output": "no room"}),
        )
        .await,
        409,
        "prompt_record_cap_reached",
    )
    .await;
    // Run records do not count against the manual cap.
    run_record(&f, "still fine").await;
}

#[tokio::test]
async fn manual_record_on_a_prompt_with_unreadable_settings_is_modality_undetermined() {
    let f = RunFixture::new().await;
    f.server
        .sql(&format!(
            "UPDATE prompt_versions SET model_settings = 'not json' WHERE prompt_id = '{}'",
            f.prompt
        ))
        .await;
    expect_problem(
        f.post(
            "/records",
            json!({"promptId": f.prompt, "input": "in", "output": "out"}),
        )
        .await,
        409,
        "manual_record_modality_undetermined",
    )
    .await;
}

#[tokio::test]
async fn manual_record_patch_changes_notes_input_output_freely_and_refuses_tag_and_from_turn() {
    let f = RunFixture::new().await;
    let id = manual_record(&f, "in", "out").await;
    let patched = patch(
        &f,
        &id,
        json!({"input": "in 2", "output": "out 2", "notes": "n"}),
    )
    .await;
    assert_eq!(
        (&patched["input"], &patched["output"], &patched["notes"]),
        (&json!("in 2"), &json!("out 2"), &json!("n"))
    );
    // Writing the original output back is just another value: still no delta.
    patch(&f, &id, json!({"output": "out"})).await;
    let r = record(&f, &id).await;
    assert_eq!(r["finalCopiedOutput"], "out");
    assert_eq!(r["editCount"], 0);
    assert_eq!(
        r["turns"],
        json!([{ "index": 0, "kind": "run", "input": "in 2", "output": "out" }])
    );
    refused(
        &f,
        &id,
        json!({"output": "x", "tag": "t"}),
        400,
        "invalid_request",
    )
    .await;
    refused(&f, &id, json!({"tag": null}), 400, "invalid_request").await;
    refused(&f, &id, json!({"fromTurn": 0}), 400, "invalid_request").await;
}

// ── DELETE /records/{id} ─────────────────────────────────────────────────────────────────────

#[tokio::test]
async fn delete_by_the_creating_key_is_204_and_a_second_delete_is_record_not_found() {
    let f = RunFixture::new().await;
    let id = run_record(&f, "model says").await;
    let r = delete_as(&f, &f.key, &id).await;
    assert_eq!(r.status(), 204);
    assert!(r.bytes().await.unwrap().is_empty());
    expect_problem(delete_as(&f, &f.key, &id).await, 404, "record_not_found").await;
    expect_problem(
        f.get(&format!("/records/{id}")).await,
        404,
        "record_not_found",
    )
    .await;
    assert!(ids(&list(&f, &[]).await).is_empty());
}

#[tokio::test]
async fn delete_after_twenty_four_hours_is_record_self_delete_window_expired() {
    let f = RunFixture::new().await;
    let early = manual_record(&f, "in", "early").await;
    let late = manual_record(&f, "in", "late").await;
    f.server.clock.advance(Duration::from_secs(24 * 3600 - 60));
    assert_eq!(delete_as(&f, &f.key, &early).await.status(), 204);
    f.server.clock.advance(Duration::from_secs(61));
    expect_problem(
        delete_as(&f, &f.key, &late).await,
        409,
        "record_self_delete_window_expired",
    )
    .await;
    // PATCH has no time window.
    patch(&f, &late, json!({"notes": "still editable"})).await;
}

#[tokio::test]
async fn finalize_after_the_record_was_deleted_is_record_was_deleted() {
    let f = RunFixture::new().await;
    let run_id = f.active_run().await;
    let path = format!("/runs/{run_id}/finalize");
    let first = f
        .post_with_key(&path, json!({"notes": "n"}), "fin-key")
        .await;
    let record_id = str_of(&json_with(first, 200).await["recordId"]);
    assert_eq!(delete_as(&f, &f.key, &record_id).await.status(), 204);
    expect_problem(
        f.post_with_key(&path, json!({"notes": "n"}), "fin-key")
            .await,
        410,
        "record_was_deleted",
    )
    .await;
    let no_body = f
        .server
        .http
        .post(f.url(&path))
        .header("x-api-key", &f.key)
        .send()
        .await
        .unwrap();
    expect_problem(no_body, 410, "record_was_deleted").await;
    expect_problem(
        f.finalize(&run_id, json!({"finalText": "amend"})).await,
        410,
        "record_was_deleted",
    )
    .await;
    assert_eq!(f.run_state(&run_id).await["finalizedRecordId"], Value::Null);
}

#[tokio::test]
async fn revising_a_run_whose_record_was_deleted_is_record_was_deleted() {
    let f = RunFixture::new().await;
    let events = f.run(json!({})).await;
    let id = str_of(&find(&events, "record_finalized")["recordId"]);
    let run_id = str_of(&find(&events, "run_session")["runId"]);
    assert_eq!(delete_as(&f, &f.key, &id).await.status(), 204);
    expect_problem(
        f.post(
            &format!("/runs/{run_id}/revise"),
            json!({"instruction": "again", "stream": true}),
        )
        .await,
        410,
        "record_was_deleted",
    )
    .await;
    assert_eq!(f.upstream.requests().len(), 1, "no model call");
    assert!(ids(&list(&f, &[]).await).is_empty(), "no record comes back");
    assert_eq!(f.run_state(&run_id).await["state"], "Finalized");
}

// ── POST /records/{id}/revise ────────────────────────────────────────────────────────────────

#[tokio::test]
async fn revising_a_record_seeds_a_run_from_its_final_output_and_amends_the_same_record() {
    let f = RunFixture::new().await;
    f.upstream
        .push(Scenario::text(["model says"]).with_usage(1000, 500));
    let events = f.run(json!({})).await;
    let id = str_of(&find(&events, "record_finalized")["recordId"]);
    let first_run = str_of(&find(&events, "run_session")["runId"]);
    patch(&f, &id, json!({"output": "my edit", "notes": "keep"})).await;
    f.upstream
        .push(Scenario::text(["revised"]).with_usage(2000, 1000));
    let events = f
        .stream(
            &format!("/records/{id}/revise"),
            json!({"instruction": "shorter", "stream": true}),
        )
        .await;
    let session = find(&events, "run_session");
    assert_eq!(session["seededFromRecordId"], id.as_str());
    let new_run = str_of(&session["runId"]);
    assert_ne!(new_run, first_run);
    // The edited output is what the model revises.
    let sent = f.upstream.requests()[1].body.to_string();
    assert!(sent.contains("Original input:\\nan article"), "{sent}");
    assert!(sent.contains("Previous output:\\nmy edit"), "{sent}");
    assert!(sent.contains("Revision instruction:\\nshorter"), "{sent}");
    assert_eq!(find(&events, "record_finalized")["recordId"], id.as_str());
    let r = record(&f, &id).await;
    assert_eq!(r["finalCopiedOutput"], "revised");
    assert_eq!(
        turn_shape(&r),
        shape(&[("run", "my edit"), ("revision", "revised")])
    );
    assert_eq!(r["turns"][1]["intermediateOutput"], "my edit");
    assert_eq!(
        (&r["revisionCount"], &r["editCount"]),
        (&json!(1), &json!(0))
    );
    assert_eq!(r["notes"], "keep");
    assert_eq!(r["source"], "API");
    // The record's cost is every turn's: the original run (300) and the revision (600).
    assert_eq!(r["costMilliCents"], 900);
    assert_eq!(ids(&list(&f, &[]).await), vec![id], "no second record");
}

#[tokio::test]
async fn revising_a_record_whose_version_was_deleted_is_version_not_found() {
    let f = RunFixture::new().await;
    let id = run_record(&f, "model says").await;
    let version = str_of(&record(&f, &id).await["versionId"]);
    json_with(
        f.post(
            &format!("/prompts/{}/versions", f.prompt),
            json!({"promptText": "Two bullets.", "modelSettings": f.server.model_settings()}),
        )
        .await,
        201,
    )
    .await;
    let r = f
        .server
        .http
        .delete(f.url(&format!("/prompts/{}/versions/{version}", f.prompt)))
        .header("x-api-key", &f.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let path = format!("/records/{id}/revise");
    let body = json!({"instruction": "shorter", "stream": true});
    expect_problem(f.post(&path, body.clone()).await, 404, "version_not_found").await;
    // The refusal released the record's lock: the same call is refused the same way, not 409.
    expect_problem(f.post(&path, body).await, 404, "version_not_found").await;
    assert_eq!(f.upstream.requests().len(), 1);
}

#[tokio::test]
async fn revising_a_record_whose_lock_is_held_is_record_revise_in_progress() {
    let f = RunFixture::new().await;
    let id = run_record(&f, "model says").await;
    f.server
        .sql(&format!(
            "UPDATE records SET revise_lock_until = 32503680000000 WHERE id = '{id}'"
        ))
        .await;
    expect_problem(
        f.post(
            &format!("/records/{id}/revise"),
            json!({"instruction": "shorter", "stream": true}),
        )
        .await,
        409,
        "record_revise_in_progress",
    )
    .await;
    assert_eq!(f.upstream.requests().len(), 1, "no model call");
    assert_eq!(record(&f, &id).await["finalCopiedOutput"], "model says");
}

// ── GET /records/{id}/image ──────────────────────────────────────────────────────────────────

#[tokio::test]
async fn a_text_record_has_no_image_and_a_negative_index_is_invalid_index() {
    let f = RunFixture::new().await;
    let id = run_record(&f, "model says").await;
    expect_problem(
        f.get(&format!("/records/{id}/image")).await,
        404,
        "no_image_stored",
    )
    .await;
    expect_problem(
        f.get(&format!("/records/{id}/image?index=0")).await,
        404,
        "no_image_stored",
    )
    .await;
    expect_problem(
        f.get(&format!("/records/{id}/image?index=-1")).await,
        400,
        "invalid_index",
    )
    .await;
    expect_problem(
        f.get("/records/rec_missing/image").await,
        404,
        "record_not_found",
    )
    .await;
}

// ── Usage log ────────────────────────────────────────────────────────────────────────────────

async fn usage(f: &RunFixture, run_id: &str) -> Vec<proem_core::store::records::UsageRow> {
    let pool = sqlx::AnyPool::connect(&f.server.db.url).await.unwrap();
    let rows = proem_core::store::records::usage_for_run(&pool, run_id)
        .await
        .unwrap();
    pool.close().await;
    rows
}

#[tokio::test]
async fn each_successful_upstream_call_writes_one_billable_usage_row_with_its_cost() {
    let f = RunFixture::new().await;
    f.upstream.push(Scenario::text(["X"]).with_usage(1000, 500));
    let run_id = f.active_run().await;
    f.upstream
        .push(Scenario::text(["Y"]).with_usage(2000, 1000));
    f.revise(&run_id, json!({})).await;
    let rows = usage(&f, &run_id).await;
    let summary: Vec<_> = rows
        .iter()
        .map(|u| {
            (
                u.purpose.as_str(),
                u.billable,
                u.cost_millicents,
                u.input_tokens,
                u.output_tokens,
                u.outcome.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("run", true, 300, 1000, 500, "ok"),
            ("revision", true, 600, 2000, 1000, "ok")
        ]
    );
    for u in &rows {
        assert_eq!(u.user_id, f.user_id);
        assert_eq!(u.prompt_id.as_deref(), Some(f.prompt.as_str()));
        assert_eq!(u.model_id, test_model_id());
        assert!(u.key_id.is_some());
    }
}

#[tokio::test]
async fn an_upstream_4xx_writes_one_usage_row_that_is_not_billable() {
    let f = RunFixture::new().await;
    f.upstream.push(Scenario::error(400));
    let events = f.run(json!({})).await;
    let failed = find(&events, "run_failed");
    assert_eq!(failed["charged"], false);
    let rows = usage(&f, &str_of(&failed["runId"])).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(!rows[0].billable);
    assert_eq!(rows[0].cost_millicents, 0);
    assert_eq!(rows[0].outcome, "upstream_rejected");
    assert_eq!(failed["usageLogId"], rows[0].id.as_str());
}
