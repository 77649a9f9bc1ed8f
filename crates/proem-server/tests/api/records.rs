//! Records over HTTP (spec "Record DTO turns[]", "Record self-management", `GET /records`): the
//! filtered, truncated list; `turns[]`; merge-patch with the edit-delta rules; manual records;
//! self-delete; revise from a record; the image route; and the usage row every upstream call writes.

use proem_testkit::{Scenario, test_model_id};
use reqwest::Response;
use serde_json::{Value, json};

use super::contract_support::{ids, json_with, key_with_id};
use super::run_support::{RunFixture, Sse, find, parse_sse};
use super::support::expect_problem;

pub(super) const SCOPES: &[&str] = &["read", "execute", "write"];

// ── Helpers ──────────────────────────────────────────────────────────────────────────────────

/// Another key of the fixture's user: `(key id, plaintext)`.
pub(super) async fn sibling_key(f: &RunFixture) -> (String, String) {
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

pub(super) async fn record(f: &RunFixture, id: &str) -> Value {
    json_with(f.get(&format!("/records/{id}")).await, 200).await
}

pub(super) async fn list_as(f: &RunFixture, key: &str, query: &[(&str, &str)]) -> Response {
    let url = reqwest::Url::parse_with_params(&f.url("/records"), query).unwrap();
    f.server
        .http
        .get(url)
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
}

pub(super) async fn list(f: &RunFixture, query: &[(&str, &str)]) -> Value {
    json_with(list_as(f, &f.key, query).await, 200).await
}

pub(super) async fn patch_as(f: &RunFixture, key: &str, id: &str, body: Value) -> Response {
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

pub(super) async fn patch(f: &RunFixture, id: &str, body: Value) -> Value {
    json_with(patch_as(f, &f.key, id, body).await, 200).await
}

/// A refused patch answers `status`/`code` and leaves the record exactly as it was.
pub(super) async fn refused(f: &RunFixture, id: &str, body: Value, status: u16, code: &str) {
    let before = record(f, id).await;
    expect_problem(patch_as(f, &f.key, id, body).await, status, code).await;
    assert_eq!(record(f, id).await, before, "{code} changed the record");
}

pub(super) async fn delete_as(f: &RunFixture, key: &str, id: &str) -> Response {
    f.server
        .http
        .delete(f.url(&format!("/records/{id}")))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
}

pub(super) async fn stream_as(f: &RunFixture, key: &str, path: &str, body: Value) -> Vec<Sse> {
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

pub(super) fn str_of(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

/// The record of an auto-finalized run on the fixture's prompt whose model answers `output`.
pub(super) async fn run_record(f: &RunFixture, output: &str) -> String {
    f.upstream.push(Scenario::text([output]));
    str_of(&find(&f.run(json!({})).await, "record_finalized")["recordId"])
}

/// A record of run "A" revised to "B" then "C", finalized plain: `(run id, record id)`.
pub(super) async fn revised_record(f: &RunFixture) -> (String, String) {
    f.upstream.push(Scenario::text(["A"]));
    let run_id = f.active_run().await;
    for output in ["B", "C"] {
        f.upstream.push(Scenario::text([output]));
        f.revise(&run_id, json!({})).await;
    }
    let body = json_with(f.finalize(&run_id, json!({})).await, 200).await;
    (run_id, str_of(&body["recordId"]))
}

pub(super) async fn manual_record(f: &RunFixture, input: &str, output: &str) -> String {
    let r = f
        .post(
            "/records",
            json!({"promptId": f.prompt, "input": input, "output": output}),
        )
        .await;
    str_of(&json_with(r, 201).await["id"])
}

pub(super) fn turn_shape(record: &Value) -> Vec<(String, String)> {
    record["turns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (str_of(&t["kind"]), str_of(&t["output"])))
        .collect()
}

pub(super) fn shape(turns: &[(&str, &str)]) -> Vec<(String, String)> {
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

    type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<&'a String>);
    let cases: Vec<Case> = vec![
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
async fn list_truncates_final_copied_output_and_turn_texts_with_the_same_limits() {
    let f = RunFixture::new().await;
    let (a, b, c) = ("A".repeat(40), "B".repeat(40), "C".repeat(40));
    f.upstream.push(Scenario::text([a.as_str()]));
    let events = f
        .run(json!({"userInput": "i".repeat(50), "autoFinalize": false}))
        .await;
    let run_id = str_of(&find(&events, "run_completed")["runId"]);
    f.upstream.push(Scenario::text([b.as_str()]));
    f.revise(&run_id, json!({})).await;
    let body = json_with(f.finalize(&run_id, json!({"finalText": c})).await, 200).await;
    let id = str_of(&body["recordId"]);
    let item =
        list(&f, &[("maxInputChars", "5"), ("maxOutputChars", "3")]).await["items"][0].clone();
    assert_eq!(item["finalCopiedOutput"], "CCC");
    assert_eq!(item["outputText"], "CCC");
    assert_eq!(
        item["turns"],
        json!([
            { "index": 0, "kind": "run", "input": "iiiii", "output": "AAA" },
            { "index": 1, "kind": "revision", "instruction": "make it formal",
              "intermediateOutput": "AAA", "output": "BBB", "modelId": test_model_id(),
              "costMilliCents": item["turns"][1]["costMilliCents"] },
            { "index": 2, "kind": "edit", "intermediateOutput": "BBB", "output": "CCC" }
        ])
    );
    assert_eq!(
        (&item["inputTruncated"], &item["truncated"]),
        (&json!(true), &json!(true))
    );
    // maxOutputChars=0 sends none of the output, anywhere in the item.
    let item = list(&f, &[("maxOutputChars", "0")]).await["items"][0].clone();
    let text = item.to_string();
    for output in ["AAA", "BBB", "CCC"] {
        assert!(!text.contains(output), "{output} in {text}");
    }
    assert_eq!(item["truncated"], true);
    assert_eq!(
        item["inputTruncated"], false,
        "50 chars fit the default 4096"
    );
    // Only a turn's text over the limit sets the flag: here every output fits.
    let item =
        list(&f, &[("maxInputChars", "50"), ("maxOutputChars", "40")]).await["items"][0].clone();
    assert_eq!(
        (&item["inputTruncated"], &item["truncated"]),
        (&json!(false), &json!(false))
    );
    assert_eq!(item["finalCopiedOutput"], c.as_str());
    assert_eq!(item["turns"][1]["intermediateOutput"], a.as_str());
    // A single read is whole.
    let full = record(&f, &id).await;
    assert_eq!(full["finalCopiedOutput"], c.as_str());
    assert_eq!(full["turns"][0]["input"], "i".repeat(50));
    assert_eq!(full["turns"][2]["intermediateOutput"], b.as_str());
    assert_eq!(full["truncated"], false);
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
