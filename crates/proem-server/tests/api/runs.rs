//! The run lifecycle over HTTP against a fake upstream: streaming, auto-finalize, revise,
//! finalize, cancel, failures, idempotent replays, TTL and caps.

use std::time::Duration;

use futures::StreamExt;
use proem_core::catalog::ProviderKind;
use proem_testkit::Scenario;
use serde_json::json;

use super::run_support::{RunFixture, find, names, parse_sse, text_of};
use super::support::expect_problem;

#[tokio::test]
async fn run_streams_session_deltas_completion_and_the_auto_finalized_record() {
    let f = RunFixture::new().await;
    f.upstream
        .push(Scenario::text(["Three", " bullets", "."]).with_usage(1000, 500));
    let events = f.run(json!({})).await;
    assert_eq!(
        names(&events),
        vec![
            "run_session",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "run_completed",
            "record_finalized"
        ]
    );
    let session = find(&events, "run_session");
    assert_eq!(session["protocolVersion"], 1);
    assert_eq!(session["turnIndex"], 0);
    assert_eq!(session["outputModality"], "text");
    assert_eq!(text_of(&events), "Three bullets.");
    // 1000 in × 100000 + 500 out × 400000 per million tokens = 300000 millicents.
    assert_eq!(find(&events, "run_completed")["costMilliCents"], 300);
    let finalized = find(&events, "record_finalized");
    let record_id = finalized["recordId"].as_str().unwrap();
    let record: serde_json::Value = f
        .get(&format!("/records/{record_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(record["inputText"], "an article");
    assert_eq!(record["finalCopiedOutput"], "Three bullets.");
    assert_eq!(record["source"], "API");
    assert_eq!(record["costMilliCents"], 300);
    assert_eq!(record["isOneShot"], true);
    assert_eq!(record["turns"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn each_upstream_protocol_reaches_clients_as_response_output_text_delta() {
    for kind in [
        ProviderKind::Openai,
        ProviderKind::OpenaiChat,
        ProviderKind::Anthropic,
    ] {
        let f = RunFixture::with(kind, |_| {}).await;
        f.upstream.push(Scenario::text(["a", "b"]));
        let events = f.run(json!({"autoFinalize": false})).await;
        assert_eq!(text_of(&events), "ab", "{kind:?}");
        assert!(
            events.iter().any(|e| e.event == "run_completed"),
            "{kind:?}"
        );
        let sent = &f.upstream.requests()[0];
        let body = sent.body.to_string();
        assert!(
            body.contains("Summarize the input in three bullets."),
            "{kind:?}: instructions sent"
        );
        assert!(body.contains("an article"), "{kind:?}: user input sent");
    }
}

/// On SQLite a run reads its prompt and version on a connection of its own (`store/inline.rs`),
/// beside the pool that wrote them: it must see a version made current just before.
#[tokio::test]
async fn a_run_reads_the_version_made_current_a_moment_before() {
    let f = RunFixture::new().await;
    let prompt: serde_json::Value = f
        .get(&format!("/prompts/{}", f.prompt))
        .await
        .json()
        .await
        .unwrap();
    let settings = prompt["currentVersion"]["modelSettings"].clone();
    let created = f
        .post(
            &format!("/prompts/{}/versions", f.prompt),
            json!({"promptText": "Answer in one haiku.", "modelSettings": settings, "setAsCurrent": true}),
        )
        .await;
    assert_eq!(created.status(), 201);
    f.upstream.push(Scenario::text(["ok"]));
    let events = f.run(json!({"autoFinalize": false})).await;
    assert_eq!(text_of(&events), "ok");
    let sent = f.upstream.requests()[0].body.to_string();
    assert!(sent.contains("Answer in one haiku."), "{sent}");
    assert!(
        !sent.contains("Summarize the input in three bullets."),
        "{sent}"
    );
}

#[tokio::test]
async fn run_without_stream_true_is_stream_required() {
    let f = RunFixture::new().await;
    let r = f
        .post(
            &format!("/prompts/{}/run", f.prompt),
            json!({"userInput": "x"}),
        )
        .await;
    expect_problem(r, 400, "stream_required").await;
    let r = f
        .post(
            &format!("/prompts/{}/run", f.prompt),
            json!({"userInput": "x", "stream": false}),
        )
        .await;
    expect_problem(r, 400, "stream_required").await;
    assert!(f.upstream.requests().is_empty());
}

#[tokio::test]
async fn run_of_another_users_prompt_is_prompt_not_found() {
    let f = RunFixture::new().await;
    let (_, other) = f.server.user_with_key(&["execute"]).await;
    let r = f
        .server
        .http
        .post(f.url(&format!("/prompts/{}/run", f.prompt)))
        .header("x-api-key", other)
        .json(&json!({"stream": true}))
        .send()
        .await
        .unwrap();
    expect_problem(r, 404, "prompt_not_found").await;
}

#[tokio::test]
async fn auto_finalize_false_leaves_the_session_active_until_finalize() {
    let f = RunFixture::new().await;
    let events = f.run(json!({"autoFinalize": false})).await;
    assert!(!events.iter().any(|e| e.event.starts_with("record_")));
    let run_id = find(&events, "run_completed")["runId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(f.run_state(&run_id).await["state"], "Active");
    let r = f.finalize(&run_id, json!({})).await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["runId"], run_id.as_str());
    assert!(body["recordId"].as_str().unwrap().starts_with("rec_"));
    assert_eq!(f.run_state(&run_id).await["state"], "Finalized");
}

#[tokio::test]
async fn auto_finalize_query_parameter_works_and_the_body_wins() {
    let f = RunFixture::new().await;
    let path = format!("/prompts/{}/run?autoFinalize=false", f.prompt);
    let events = f
        .stream(&path, json!({"userInput": "x", "stream": true}))
        .await;
    assert!(!events.iter().any(|e| e.event == "record_finalized"));
    let events = f
        .stream(
            &path,
            json!({"userInput": "x", "stream": true, "autoFinalize": true}),
        )
        .await;
    assert!(events.iter().any(|e| e.event == "record_finalized"));
}

#[tokio::test]
async fn persistent_auto_finalize_setting_is_the_default_and_per_call_wins() {
    let f = RunFixture::new().await;
    let r = f
        .server
        .http
        .patch(f.url("/settings"))
        .header("x-api-key", &f.key)
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"autoFinalizeMcpRuns": false}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["autoFinalizeMcpRuns"],
        false
    );
    let settings: serde_json::Value = f.get("/settings").await.json().await.unwrap();
    assert_eq!(settings["autoFinalizeMcpRuns"], false);
    let events = f.run(json!({})).await;
    assert!(!events.iter().any(|e| e.event == "record_finalized"));
    let events = f.run(json!({"autoFinalize": true})).await;
    assert!(events.iter().any(|e| e.event == "record_finalized"));
}

#[tokio::test]
async fn upstream_rejection_ends_the_stream_with_run_failed_uncharged_and_finalize_skipped() {
    let f = RunFixture::new().await;
    f.upstream.push(Scenario::error(400));
    let events = f.run(json!({})).await;
    assert_eq!(
        names(&events),
        vec!["run_session", "run_failed", "record_finalize_skipped"]
    );
    let failed = find(&events, "run_failed");
    assert_eq!(failed["reasonCode"], "upstream_rejected");
    assert_eq!(failed["charged"], false);
    assert_eq!(
        find(&events, "record_finalize_skipped")["reason"],
        "run_failed"
    );
    let run_id = failed["runId"].as_str().unwrap();
    let run = f.run_state(run_id).await;
    assert_eq!(run["state"], "Failed");
    assert_eq!(run["failureReasonCode"], "upstream_rejected");
    let r = f
        .post(
            &format!("/runs/{run_id}/revise"),
            json!({"instruction": "again", "stream": true}),
        )
        .await;
    expect_problem(r, 409, "session_failed").await;
    expect_problem(f.finalize(run_id, json!({})).await, 409, "session_failed").await;
}

#[tokio::test]
async fn a_stream_cut_mid_way_is_run_failed_charged_with_its_cost() {
    let f = RunFixture::new().await;
    f.upstream
        .push(Scenario::text(["one", " two", " three"]).with_cut_after(2));
    let events = f.run(json!({})).await;
    let failed = find(&events, "run_failed");
    assert_eq!(
        failed["reasonCode"], "upstream_stream_interrupted",
        "{failed}"
    );
    assert_eq!(failed["charged"], true);
    assert!(failed["costMilliCents"].as_i64().unwrap() > 0);
    assert!(failed["usageLogId"].as_str().unwrap().starts_with("use_"));
    assert_eq!(text_of(&events), "one two");
}

#[tokio::test]
async fn a_client_that_disconnects_mid_stream_still_gets_its_record() {
    let f = RunFixture::new().await;
    f.upstream.push(
        Scenario::text(["slow", " but", " sure"])
            .with_inter_token_delay(Duration::from_millis(150)),
    );
    let mut r = f
        .post(
            &format!("/prompts/{}/run", f.prompt),
            json!({"userInput": "x", "stream": true}),
        )
        .await;
    let first = r.chunk().await.unwrap().unwrap();
    let events = parse_sse(&String::from_utf8_lossy(&first));
    let run_id = find(&events, "run_session")["runId"]
        .as_str()
        .unwrap()
        .to_owned();
    drop(r);
    let mut state = serde_json::Value::Null;
    for _ in 0..100 {
        state = f.run_state(&run_id).await;
        if state["state"] == "Finalized" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state["state"], "Finalized", "{state}");
    let record_id = state["finalizedRecordId"].as_str().unwrap();
    let record: serde_json::Value = f
        .get(&format!("/records/{record_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(record["finalCopiedOutput"], "slow but sure");
}

#[tokio::test]
async fn revise_sends_the_synthetic_wrapper_and_appends_a_turn() {
    let f = RunFixture::new().await;
    f.upstream.push(Scenario::text(["X"]));
    let run_id = f.active_run().await;
    f.upstream.push(Scenario::text(["Y"]));
    let events = f.revise(&run_id, json!({})).await;
    assert_eq!(find(&events, "run_session")["turnIndex"], 1);
    assert_eq!(find(&events, "run_completed")["turnIndex"], 1);
    let sent = f.upstream.requests()[1].body.to_string();
    assert!(sent.contains("Original input:\\nan article"), "{sent}");
    assert!(sent.contains("Previous output:\\nX"), "{sent}");
    assert!(
        sent.contains("Revision instruction:\\nmake it formal"),
        "{sent}"
    );
    let run = f.run_state(&run_id).await;
    assert_eq!(run["turnCount"], 2);
    assert_eq!(run["turns"][1]["kind"], "revision");
    assert_eq!(run["turns"][1]["intermediateOutput"], "X");
    assert_eq!(run["turns"][1]["output"], "Y");
}

#[tokio::test]
async fn intermediate_output_replaces_the_previous_output_the_model_sees() {
    let f = RunFixture::new().await;
    let run_id = f.active_run().await;
    f.revise(&run_id, json!({"intermediateOutput": "my edited draft"}))
        .await;
    let sent = f.upstream.requests()[1].body.to_string();
    assert!(
        sent.contains("Previous output:\\nmy edited draft"),
        "{sent}"
    );
    let run = f.run_state(&run_id).await;
    assert_eq!(run["turns"][0]["output"], "my edited draft");
}

#[tokio::test]
async fn revise_validation_codes() {
    let f = RunFixture::new().await;
    let run_id = f.active_run().await;
    let path = format!("/runs/{run_id}/revise");
    expect_problem(
        f.post(&path, json!({"stream": true})).await,
        400,
        "instruction_required",
    )
    .await;
    expect_problem(
        f.post(&path, json!({"instruction": "  ", "stream": true}))
            .await,
        400,
        "instruction_required",
    )
    .await;
    expect_problem(
        f.post(&path, json!({"instruction": "x"})).await,
        400,
        "stream_required",
    )
    .await;
    expect_problem(
        f.post(
            &path,
            json!({"instruction": "x", "stream": true, "intermediateOutput": " "}),
        )
        .await,
        400,
        "invalid_params",
    )
    .await;
    let big = "x".repeat(32 * 1024 + 1);
    expect_problem(
        f.post(
            &path,
            json!({"instruction": "x", "stream": true, "intermediateOutput": big}),
        )
        .await,
        413,
        "intermediate_output_too_large",
    )
    .await;
    expect_problem(
        f.post(
            &path,
            json!({"instruction": "x", "stream": true, "fromTurn": -1}),
        )
        .await,
        400,
        "from_turn_invalid",
    )
    .await;
    expect_problem(
        f.post(
            &path,
            json!({"instruction": "x", "stream": true, "fromTurn": 1}),
        )
        .await,
        400,
        "from_turn_out_of_range",
    )
    .await;
    expect_problem(
        f.post(
            "/runs/run_missing/revise",
            json!({"instruction": "x", "stream": true}),
        )
        .await,
        404,
        "run_not_found",
    )
    .await;
    assert_eq!(
        f.run_state(&run_id).await["turnCount"],
        1,
        "a refused revise changes nothing"
    );
}

#[tokio::test]
async fn from_turn_rewinds_before_revising() {
    let f = RunFixture::new().await;
    f.upstream.push(Scenario::text(["A"]));
    let run_id = f.active_run().await;
    f.upstream.push(Scenario::text(["B"]));
    f.revise(&run_id, json!({})).await;
    f.upstream.push(Scenario::text(["C"]));
    f.revise(&run_id, json!({"fromTurn": 0})).await;
    let run = f.run_state(&run_id).await;
    assert_eq!(run["turnCount"], 2);
    assert_eq!(run["turns"][1]["intermediateOutput"], "A");
    assert_eq!(run["turns"][1]["output"], "C");
}

#[tokio::test]
async fn revising_a_finalized_run_reopens_it_and_amends_the_same_record() {
    let f = RunFixture::new().await;
    f.upstream.push(Scenario::text(["first"]));
    let events = f.run(json!({})).await;
    let record_id = find(&events, "record_finalized")["recordId"]
        .as_str()
        .unwrap()
        .to_owned();
    let run_id = find(&events, "run_session")["runId"]
        .as_str()
        .unwrap()
        .to_owned();
    f.upstream.push(Scenario::text(["second"]));
    let events = f.revise(&run_id, json!({})).await;
    assert_eq!(
        find(&events, "record_finalized")["recordId"],
        record_id.as_str()
    );
    let run = f.run_state(&run_id).await;
    assert_eq!(
        (
            run["state"].as_str(),
            run["generation"].as_i64(),
            run["reopenCount"].as_i64()
        ),
        (Some("Finalized"), Some(1), Some(1))
    );
    let record: serde_json::Value = f
        .get(&format!("/records/{record_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(record["finalCopiedOutput"], "second");
    assert_eq!(record["revisionCount"], 1);
}

#[tokio::test]
async fn finalize_with_final_text_creates_an_edit_delta_and_tag_anchors_on_it() {
    let f = RunFixture::new().await;
    f.upstream.push(Scenario::text(["model text"]));
    let run_id = f.active_run().await;
    let r = f
        .finalize(
            &run_id,
            json!({"finalText": "my text", "tag": "Less formal", "notes": "n"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    let turns = body["turns"].as_array().unwrap();
    assert_eq!(turns.len(), 2);
    assert_eq!(turns[1]["kind"], "edit");
    assert_eq!(turns[1]["intermediateOutput"], "model text");
    assert_eq!(turns[1]["output"], "my text");
    assert_eq!(turns[1]["tag"], "Less formal");
    assert_eq!(body["record"]["notes"], "n");
    assert_eq!(body["record"]["tag"], "Less formal");
}

#[tokio::test]
async fn finalize_with_final_text_equal_to_the_output_makes_no_edit() {
    let f = RunFixture::new().await;
    f.upstream.push(Scenario::text(["same"]));
    let run_id = f.active_run().await;
    let body: serde_json::Value = f
        .finalize(&run_id, json!({"finalText": "same"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["turns"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn finalize_with_tag_but_no_edit_is_tag_without_delta_and_changes_nothing() {
    let f = RunFixture::new().await;
    f.upstream.push(Scenario::text(["same"]));
    let run_id = f.active_run().await;
    expect_problem(
        f.finalize(&run_id, json!({"tag": "x"})).await,
        400,
        "tag_without_delta",
    )
    .await;
    expect_problem(
        f.finalize(&run_id, json!({"finalText": "same", "tag": "x"}))
            .await,
        400,
        "tag_without_delta",
    )
    .await;
    assert_eq!(f.run_state(&run_id).await["state"], "Active");
}

#[tokio::test]
async fn finalize_caps_and_empty_values() {
    let f = RunFixture::new().await;
    let run_id = f.active_run().await;
    expect_problem(
        f.finalize(&run_id, json!({"finalText": "x".repeat(256 * 1024 + 1)}))
            .await,
        413,
        "final_text_too_large",
    )
    .await;
    expect_problem(
        f.finalize(&run_id, json!({"notes": "x".repeat(64 * 1024 + 1)}))
            .await,
        413,
        "notes_too_large",
    )
    .await;
    expect_problem(
        f.finalize(
            &run_id,
            json!({"finalText": "y", "tag": "x".repeat(64 * 1024 + 1)}),
        )
        .await,
        413,
        "tag_too_large",
    )
    .await;
    expect_problem(
        f.finalize(&run_id, json!({"finalText": "  "})).await,
        400,
        "invalid_params",
    )
    .await;
    expect_problem(
        f.finalize(&run_id, json!({"finalText": "y", "tag": " "}))
            .await,
        400,
        "invalid_params",
    )
    .await;
    let r = f
        .server
        .http
        .post(f.url(&format!("/runs/{run_id}/finalize?persist=false")))
        .header("x-api-key", &f.key)
        .send()
        .await
        .unwrap();
    expect_problem(r, 400, "persist_query_param_removed").await;
    assert_eq!(f.run_state(&run_id).await["state"], "Active");
    assert_eq!(
        f.finalize(&run_id, json!({"finalText": "x".repeat(256 * 1024)}))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn finalize_on_a_finalized_run_replays_patches_notes_or_amends() {
    let f = RunFixture::new().await;
    let run_id = f.active_run().await;
    let first: serde_json::Value = f.finalize(&run_id, json!({})).await.json().await.unwrap();
    let record_id = first["recordId"].as_str().unwrap().to_owned();
    // No fields: the last response again.
    let replay: serde_json::Value = f.finalize(&run_id, json!({})).await.json().await.unwrap();
    assert_eq!(replay, first);
    // Notes alone: patched in place, no reopen.
    let noted: serde_json::Value = f
        .finalize(&run_id, json!({"notes": "later"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(noted["record"]["notes"], "later");
    assert_eq!(f.run_state(&run_id).await["generation"], 0);
    // finalText: reopen, new generation, same record.
    let amended: serde_json::Value = f
        .finalize(&run_id, json!({"finalText": "amended"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(amended["recordId"], record_id.as_str());
    assert_eq!(amended["record"]["finalCopiedOutput"], "amended");
    assert_eq!(amended["record"]["notes"], "later");
    assert_eq!(f.run_state(&run_id).await["generation"], 1);
}

#[tokio::test]
async fn run_retried_with_the_same_idempotency_key_ends_with_run_replayed() {
    let f = RunFixture::new().await;
    let path = format!("/prompts/{}/run", f.prompt);
    let body = json!({"userInput": "x", "stream": true, "autoFinalize": false});
    let first = parse_sse(
        &f.post_with_key(&path, body.clone(), "run-key-1")
            .await
            .text()
            .await
            .unwrap(),
    );
    let run_id = find(&first, "run_session")["runId"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = f.post_with_key(&path, body, "run-key-1").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    let again = parse_sse(&r.text().await.unwrap());
    assert_eq!(names(&again), vec!["run_session", "run_replayed"]);
    let replayed = find(&again, "run_replayed");
    assert_eq!(replayed["runId"], run_id.as_str());
    // A snapshot from the original call, not the run's state now (Active).
    assert_eq!(replayed["state"], "Running");
    assert_eq!(replayed["streamingInProgress"], true);
    assert_eq!(
        f.upstream.requests().len(),
        1,
        "the replay made no second upstream call"
    );
    // The record a run produces carries the run's Idempotency-Key.
    let record: serde_json::Value = f.finalize(&run_id, json!({})).await.json().await.unwrap();
    assert_eq!(record["record"]["clientIdempotencyKey"], "run-key-1");
}

#[tokio::test]
async fn finalize_retried_with_the_same_key_replays_and_a_reopen_is_a_fresh_boundary() {
    let f = RunFixture::new().await;
    let run_id = f.active_run().await;
    let path = format!("/runs/{run_id}/finalize");
    let first = f
        .post_with_key(&path, json!({"finalText": "v1"}), "fin-1")
        .await;
    assert_eq!(first.status(), 200);
    let first = first.text().await.unwrap();
    let again = f
        .post_with_key(&path, json!({"finalText": "v1"}), "fin-1")
        .await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.text().await.unwrap(), first);
    // Reopen with a revise (generation 1): the same key finalizes afresh.
    f.revise(&run_id, json!({"autoFinalize": false})).await;
    let fresh = f
        .post_with_key(&path, json!({"finalText": "v1"}), "fin-1")
        .await;
    assert_eq!(fresh.status(), 200);
    assert!(fresh.headers().get("idempotent-replayed").is_none());
}

#[tokio::test]
async fn cancel_abandons_the_run_idempotently_and_refuses_ended_runs() {
    let f = RunFixture::new().await;
    let run_id = f.active_run().await;
    for _ in 0..2 {
        let r = f
            .server
            .http
            .delete(f.url(&format!("/runs/{run_id}")))
            .header("x-api-key", &f.key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.json::<serde_json::Value>().await.unwrap()["state"],
            "Abandoned"
        );
    }
    let r = f
        .post(
            &format!("/runs/{run_id}/revise"),
            json!({"instruction": "x", "stream": true}),
        )
        .await;
    expect_problem(r, 409, "session_abandoned").await;
    let done = f.active_run().await;
    f.finalize(&done, json!({})).await;
    let r = f
        .server
        .http
        .delete(f.url(&format!("/runs/{done}")))
        .header("x-api-key", &f.key)
        .send()
        .await
        .unwrap();
    expect_problem(r, 409, "run_already_terminal").await;
}

#[tokio::test]
async fn revise_while_a_turn_streams_is_session_busy() {
    let f = RunFixture::new().await;
    let run_id = f.active_run().await;
    f.upstream
        .push(Scenario::text(["slow"]).with_time_to_first_token(Duration::from_millis(800)));
    let revise_path = format!("/runs/{run_id}/revise");
    let slow = f.post(
        &revise_path,
        json!({"instruction": "a", "stream": true, "autoFinalize": false}),
    );
    let (slow, busy) = tokio::join!(slow, async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        f.post(
            &format!("/runs/{run_id}/revise"),
            json!({"instruction": "b", "stream": true}),
        )
        .await
    });
    expect_problem(busy, 409, "session_busy").await;
    let finalize = f.finalize(&run_id, json!({})).await;
    expect_problem(finalize, 409, "session_busy").await;
    slow.text().await.unwrap();
}

#[tokio::test]
async fn a_session_idle_past_its_one_hour_ttl_is_expired() {
    let f = RunFixture::new().await;
    let run_id = f.active_run().await;
    f.server.clock.advance(Duration::from_secs(3601));
    let r = f
        .post(
            &format!("/runs/{run_id}/revise"),
            json!({"instruction": "x", "stream": true}),
        )
        .await;
    expect_problem(r, 409, "session_expired").await;
    assert_eq!(f.run_state(&run_id).await["state"], "Expired");
    expect_problem(f.finalize(&run_id, json!({})).await, 409, "session_expired").await;
}

#[tokio::test]
async fn the_ttl_slides_with_activity() {
    let f = RunFixture::new().await;
    let run_id = f.active_run().await;
    f.server.clock.advance(Duration::from_secs(3000));
    f.revise(&run_id, json!({})).await;
    f.server.clock.advance(Duration::from_secs(3000));
    assert_eq!(f.run_state(&run_id).await["state"], "Active");
}

#[tokio::test]
async fn twenty_five_turns_then_revision_chain_too_long() {
    let f = RunFixture::new().await;
    let run_id = f.active_run().await;
    for _ in 0..24 {
        f.revise(&run_id, json!({})).await;
    }
    assert_eq!(f.run_state(&run_id).await["turnCount"], 25);
    let r = f
        .post(
            &format!("/runs/{run_id}/revise"),
            json!({"instruction": "x", "stream": true}),
        )
        .await;
    expect_problem(r, 409, "revision_chain_too_long").await;
}

#[tokio::test]
async fn a_hundred_reopens_then_reopen_limit_exceeded() {
    let f = RunFixture::new().await;
    let run_id = f.active_run().await;
    f.finalize(&run_id, json!({})).await;
    f.server
        .sql(&format!(
            "UPDATE run_sessions SET reopen_count = 100 WHERE id = '{run_id}'"
        ))
        .await;
    let r = f
        .post(
            &format!("/runs/{run_id}/revise"),
            json!({"instruction": "x", "stream": true}),
        )
        .await;
    expect_problem(r, 409, "reopen_limit_exceeded").await;
    expect_problem(
        f.finalize(&run_id, json!({"finalText": "z"})).await,
        409,
        "reopen_limit_exceeded",
    )
    .await;
}

#[tokio::test]
async fn turns_past_two_megabytes_are_session_deltas_too_large() {
    let f = RunFixture::new().await;
    let run_id = f.active_run().await;
    let big = serde_json::to_string(&json!([{"kind": "run", "input": "x", "output": "y".repeat(2 * 1024 * 1024), "modelId": "m", "inputTokens": 0, "outputTokens": 0, "costMillicents": 0}])).unwrap();
    f.server
        .sql(&format!(
            "UPDATE run_sessions SET turns = '{big}' WHERE id = '{run_id}'"
        ))
        .await;
    let r = f
        .post(
            &format!("/runs/{run_id}/revise"),
            json!({"instruction": "x", "stream": true}),
        )
        .await;
    expect_problem(r, 413, "session_deltas_too_large").await;
}

#[tokio::test]
async fn a_turn_that_takes_the_session_past_two_megabytes_is_cost_incurred_no_delta_persisted() {
    let f = RunFixture::new().await;
    // 2,200 tokens of 1,000 bytes: the turn's output alone passes the session's 2 MB.
    let token = "y".repeat(999) + " ";
    f.upstream
        .push(Scenario::text(std::iter::repeat_n(token, 2200)).with_usage(10, 2200));
    let events = f.run(json!({})).await;
    let failed = find(&events, "run_failed");
    assert_eq!(failed["reasonCode"], "cost_incurred_no_delta_persisted");
    assert_eq!(failed["charged"], true);
    assert!(
        failed["costMilliCents"].as_i64().is_some_and(|c| c > 0),
        "{failed}"
    );
    assert!(failed["usageLogId"].is_string());
    assert!(names(&events).contains(&"record_finalize_skipped"));
    let run_id = failed["runId"].as_str().unwrap();
    // The billed output is not stored: the session holds no turn of it.
    let state = f.run_state(run_id).await;
    assert_eq!(state["state"], "Failed", "{state}");
    assert_eq!(state["turnCount"], 0, "{state}");
    assert_eq!(state["turns"][0]["output"], "", "{state}");
}

#[tokio::test]
async fn a_run_cancelled_while_the_model_answers_ends_charged_with_session_not_active() {
    let f = RunFixture::new().await;
    f.upstream.push(
        Scenario::text(["slow", " answer", " here"])
            .with_inter_token_delay(Duration::from_millis(300))
            .with_usage(10, 3),
    );
    let response = f
        .post(
            &format!("/prompts/{}/run", f.prompt),
            json!({"userInput": "an article", "stream": true}),
        )
        .await;
    let mut body = response.bytes_stream();
    // The first frame is `run_session`, with the run's id.
    let first = body.next().await.unwrap().unwrap();
    let session = parse_sse(&String::from_utf8_lossy(&first));
    let run_id = find(&session, "run_session")["runId"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = f
        .server
        .http
        .delete(f.url(&format!("/runs/{run_id}")))
        .header("x-api-key", &f.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut rest = first.to_vec();
    while let Some(chunk) = body.next().await {
        rest.extend_from_slice(&chunk.unwrap());
    }
    let events = parse_sse(&String::from_utf8_lossy(&rest));
    let failed = find(&events, "run_failed");
    assert_eq!(failed["reasonCode"], "session_not_active");
    assert_eq!(failed["charged"], true);
    assert!(failed["usageLogId"].is_string());
    assert_eq!(f.run_state(&run_id).await["state"], "Abandoned");
}

#[tokio::test]
async fn deleting_the_prompt_abandons_its_live_runs() {
    let f = RunFixture::new().await;
    let run_id = f.active_run().await;
    let r = f
        .server
        .http
        .delete(f.url(&format!("/prompts/{}", f.prompt)))
        .header("x-api-key", &f.key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let state = f.server.state.store().clone();
    let row = proem_core::store::runs::get(
        &sqlx::AnyPool::connect(&f.server.db.url).await.unwrap(),
        &run_id,
    )
    .await
    .unwrap()
    .unwrap();
    drop(state);
    assert_eq!(row.state, "Abandoned");
}

#[tokio::test]
async fn an_attachment_used_by_a_live_run_cannot_be_deleted() {
    let f = RunFixture::new().await;
    let r = f
        .post(
            &format!("/prompts/{}/attachments", f.prompt),
            json!({"filename": "ctx.txt", "base64": "Y29udGV4dA==", "type": "text"}),
        )
        .await;
    let attachment = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let run_id = f.active_run().await;
    assert!(
        f.upstream.requests()[0]
            .body
            .to_string()
            .contains("context"),
        "text attachment sent with the prompt"
    );
    let delete = || {
        f.server
            .http
            .delete(f.url(&format!("/attachments/{attachment}")))
            .header("x-api-key", &f.key)
            .send()
    };
    expect_problem(
        delete().await.unwrap(),
        409,
        "attachment_referenced_by_active_run",
    )
    .await;
    f.finalize(&run_id, json!({})).await;
    assert_eq!(delete().await.unwrap().status(), 204);
}

#[tokio::test]
async fn a_retired_model_fails_the_run_with_invalid_model_settings() {
    let f = RunFixture::new().await;
    f.server
        .sql("UPDATE prompt_versions SET model_settings = '{\"model_id\":\"gone_00000000\",\"parameters\":{}}'")
        .await;
    let r = f
        .post(
            &format!("/prompts/{}/run", f.prompt),
            json!({"stream": true}),
        )
        .await;
    expect_problem(r, 400, "invalid_model_settings").await;
}

#[tokio::test]
async fn images_need_a_model_with_image_input_and_valid_base64() {
    let f = RunFixture::new().await;
    let png = proem_core::attachments::image::samples::png(200, 200);
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &png);
    let events = f.run(json!({"images": [{"inline": true, "base64": b64, "mimeType": "image/png"}], "autoFinalize": false})).await;
    assert!(events.iter().any(|e| e.event == "run_completed"));
    assert!(
        f.upstream.requests()[0]
            .body
            .to_string()
            .contains("data:image/png;base64,")
    );
    let path = format!("/prompts/{}/run", f.prompt);
    let r = f
        .post(
            &path,
            json!({"stream": true, "images": [{"base64": "%%%"}]}),
        )
        .await;
    expect_problem(r, 400, "invalid_image_base64").await;
    let seventeen: Vec<_> = (0..17).map(|_| json!({"base64": b64})).collect();
    expect_problem(
        f.post(&path, json!({"stream": true, "images": seventeen}))
            .await,
        400,
        "invalid_params",
    )
    .await;
    let r = f
        .post(
            &path,
            json!({"stream": true, "images": [{"localPath": "/etc/passwd"}]}),
        )
        .await;
    expect_problem(r, 400, "invalid_params").await;
}

#[tokio::test]
async fn relayed_responses_frames_never_echo_the_prompt_text() {
    let f = RunFixture::with(ProviderKind::Openai, |_| {}).await;
    let r = f
        .post(
            &format!("/prompts/{}/run", f.prompt),
            json!({"userInput": "x", "stream": true}),
        )
        .await;
    let text = r.text().await.unwrap();
    assert!(text.contains("response.output_text.delta"));
    assert!(
        !text.contains("Summarize the input in three bullets."),
        "the prompt text leaked into the stream"
    );
}

/// The turn's task calls the provider while the session row commits; when that transaction rolls
/// back instead, the task drops the call mid-flight and stores nothing.
#[tokio::test]
async fn a_run_whose_session_never_commits_drops_its_upstream_call_and_stores_nothing() {
    let f = RunFixture::new().await;
    // Far slower than the test: only a dropped call ends the task in time.
    f.upstream
        .push(Scenario::text(["never"]).with_time_to_first_token(Duration::from_secs(60)));
    let state = &f.server.state;
    let caller = state
        .auth()
        .authenticate(state.store(), &f.key)
        .await
        .unwrap();
    let request = proem_api::records::RunRequest {
        user_input: Some("x".into()),
        stream: Some(true),
        version_id: None,
        auto_finalize: None,
        images: Vec::new(),
    };
    let (tx, mut start) = state
        .engine()
        // With an Idempotency-Key, the session row waits for the caller's transaction.
        .start_run(
            &caller,
            &f.prompt,
            request,
            None,
            Some("never-commits".into()),
        )
        .await
        .unwrap();
    // The call is under way before the commit...
    for _ in 0..100 {
        if !f.upstream.requests().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(f.upstream.requests().len(), 1);
    // ...and the rollback ends it: the task lets go of its event sender.
    drop(tx);
    let mut events = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(e) = start.events.next().await {
            events.push(e.event.into_owned());
        }
    })
    .await;
    assert!(closed.is_ok(), "the task still runs: {events:?}");
    assert_eq!(events, ["run_session"]);
    let sessions = f.server.db.table_text("run_sessions").await;
    assert!(!sessions.contains(&start.run_id), "{sessions}");
    assert_eq!(f.server.db.table_text("usage_log").await, "");
}
