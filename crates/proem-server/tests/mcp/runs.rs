//! Runs through MCP against the fake upstream: streaming as progress, the final result, auto-
//! finalize by default / setting / argument, revise by run or record, finalize, cancel, images,
//! upstream failures, idempotent retries and the durable result after a dropped connection.

use std::time::Duration;

use proem_testkit::Scenario;
use serde_json::{Value, json};

use super::support::{Fixture, problem};

#[tokio::test]
async fn run_prompt_streams_progress_and_returns_text_run_record_turn_and_cost() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Summarizer").await;
    f.upstream
        .push(Scenario::text(["Three", " bullets", "."]).with_usage(1000, 500));
    let result = client
        .call(
            "proem_run_prompt",
            json!({"promptId": prompt, "userInput": "an article"}),
        )
        .await;
    assert_ne!(result.is_error, Some(true), "{result:?}");
    assert_eq!(result.content[0].as_text().unwrap().text, "Three bullets.");
    let out = result.structured_content.unwrap();
    assert_eq!(out["outputText"], "Three bullets.");
    assert_eq!(out["promptId"], prompt.as_str());
    assert_eq!(out["turnIndex"], 0);
    assert_eq!(out["costMilliCents"], 300);
    assert_eq!(out["autoFinalized"], true);
    assert_eq!(out["state"], "Finalized");
    assert!(out["runId"].as_str().unwrap().starts_with("run_"));
    let record_id = out["recordId"].as_str().unwrap();
    let progress = client.recorder.progress.lock().unwrap().clone();
    let deltas: Vec<&str> = progress
        .iter()
        .filter_map(|p| p.message.as_deref())
        .collect();
    assert_eq!(deltas, vec!["Three", " bullets", "."]);
    assert!(progress.windows(2).all(|w| w[0].progress < w[1].progress));
    let record = client
        .ok("proem_get_record", json!({"recordId": record_id}))
        .await;
    assert_eq!(record["inputText"], "an article");
    assert_eq!(record["finalCopiedOutput"], "Three bullets.");
    assert_eq!(record["source"], "API");
}

#[tokio::test]
async fn auto_finalize_follows_the_users_setting_and_the_argument_wins() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Setting").await;
    let off = client
        .ok(
            "proem_run_prompt",
            json!({"promptId": prompt, "autoFinalize": false}),
        )
        .await;
    assert_eq!(off["recordId"], Value::Null);
    assert_eq!(off["state"], "Active");
    assert_eq!(off["autoFinalized"], false);
    let patched = f
        .server
        .http
        .patch(f.server.at("/api/v2/public/settings"))
        .header("x-api-key", &f.key)
        .json(&json!({"autoFinalizeMcpRuns": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let by_setting = client
        .ok("proem_run_prompt", json!({"promptId": prompt}))
        .await;
    assert_eq!(by_setting["recordId"], Value::Null);
    let by_argument = client
        .ok(
            "proem_run_prompt",
            json!({"promptId": prompt, "autoFinalize": true}),
        )
        .await;
    assert!(by_argument["recordId"].is_string());
}

#[tokio::test]
async fn revise_by_run_or_record_returns_the_next_turn() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Revise").await;
    f.upstream.push(Scenario::text(["first"]));
    let run = client
        .ok(
            "proem_run_prompt",
            json!({"promptId": prompt, "autoFinalize": false}),
        )
        .await;
    let run_id = run["runId"].as_str().unwrap();
    f.upstream.push(Scenario::text(["second"]));
    let revised = client
        .ok(
            "proem_revise_run",
            json!({"runId": run_id, "userInput": "make it formal"}),
        )
        .await;
    assert_eq!(revised["turnIndex"], 1);
    assert_eq!(revised["outputText"], "second");
    assert_eq!(revised["runId"], run_id);
    let sent = f.upstream.requests().last().unwrap().body.to_string();
    assert!(sent.contains("Revision instruction"), "the revise wrapper");
    let finalized = client
        .ok("proem_finalize_run", json!({"runId": run_id}))
        .await;
    let record_id = finalized["recordId"].as_str().unwrap();
    assert_eq!(finalized["turns"].as_array().unwrap().len(), 2);
    f.upstream.push(Scenario::text(["third"]));
    let from_record = client
        .ok(
            "proem_revise_run",
            json!({"recordId": record_id, "instruction": "shorter"}),
        )
        .await;
    assert_eq!(from_record["outputText"], "third");
}

#[tokio::test]
async fn revise_needs_exactly_one_handle_and_an_instruction() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Handles").await;
    let run = client
        .ok(
            "proem_run_prompt",
            json!({"promptId": prompt, "autoFinalize": false}),
        )
        .await;
    let doc = client
        .err(
            "proem_revise_run",
            json!({"userInput": "x"}),
            "invalid_params",
        )
        .await;
    let names: Vec<&str> = doc["invalid_params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["runId", "recordId"]);
    client
        .err(
            "proem_revise_run",
            json!({"userInput": "x", "runId": run["runId"], "recordId": "rec_x"}),
            "invalid_params",
        )
        .await;
    client
        .err(
            "proem_revise_run",
            json!({"runId": run["runId"]}),
            "instruction_required",
        )
        .await;
    client
        .err(
            "proem_revise_run",
            json!({"runId": run["runId"], "userInput": "x", "fromTurn": -1}),
            "from_turn_invalid",
        )
        .await;
}

#[tokio::test]
async fn finalize_with_a_tag_but_no_edit_is_tag_without_delta() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Tags").await;
    let run = client
        .ok(
            "proem_run_prompt",
            json!({"promptId": prompt, "autoFinalize": false}),
        )
        .await;
    client
        .err(
            "proem_finalize_run",
            json!({"runId": run["runId"], "tag": "Less formal"}),
            "tag_without_delta",
        )
        .await;
    let finalized = client
        .ok(
            "proem_finalize_run",
            json!({"runId": run["runId"], "finalText": "Edited.", "tag": "Less formal", "notes": "n"}),
        )
        .await;
    assert_eq!(finalized["record"]["tag"], "Less formal");
    assert_eq!(finalized["record"]["finalCopiedOutput"], "Edited.");
}

#[tokio::test]
async fn cancel_run_drops_an_active_run_and_a_finalized_one_is_terminal() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Cancel").await;
    let run = client
        .ok(
            "proem_run_prompt",
            json!({"promptId": prompt, "autoFinalize": false}),
        )
        .await;
    let cancelled = client
        .ok("proem_cancel_run", json!({"runId": run["runId"]}))
        .await;
    assert_eq!(cancelled["state"], "Abandoned");
    client
        .ok("proem_cancel_run", json!({"runId": run["runId"]}))
        .await;
    let saved = client
        .ok("proem_run_prompt", json!({"promptId": prompt}))
        .await;
    client
        .err(
            "proem_cancel_run",
            json!({"runId": saved["runId"]}),
            "run_already_terminal",
        )
        .await;
    client
        .err(
            "proem_cancel_run",
            json!({"runId": "run_nope"}),
            "run_not_found",
        )
        .await;
}

#[tokio::test]
async fn get_run_image_of_a_text_run_is_no_image_stored() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Images").await;
    let run = client
        .ok(
            "proem_run_prompt",
            json!({"promptId": prompt, "autoFinalize": false}),
        )
        .await;
    client
        .err(
            "proem_get_run_image",
            json!({"runId": run["runId"], "n": 0}),
            "no_image_stored",
        )
        .await;
    client
        .err(
            "proem_get_run_image",
            json!({"runId": run["runId"], "n": -1}),
            "invalid_index",
        )
        .await;
}

#[tokio::test]
async fn an_upstream_failure_is_an_error_result_naming_the_run() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Fails").await;
    f.upstream.push(Scenario::failing(400, 1));
    let result = client
        .call("proem_run_prompt", json!({"promptId": prompt}))
        .await;
    assert_eq!(result.is_error, Some(true));
    let doc = result.structured_content.unwrap();
    assert!(
        doc["reason_code"]
            .as_str()
            .unwrap()
            .starts_with("upstream_"),
        "{doc}"
    );
    assert!(doc["detail"].as_str().unwrap().contains("run_"));
    client
        .err(
            "proem_run_prompt",
            json!({"promptId": "prm_missing"}),
            "prompt_not_found",
        )
        .await;
}

#[tokio::test]
async fn a_retried_run_with_the_same_idempotency_key_reports_the_first_run() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Once").await;
    let args = json!({"promptId": prompt, "userInput": "hello"});
    let first = client
        .call_idempotent("proem_run_prompt", args.clone(), "run-key-1")
        .await
        .structured_content
        .unwrap();
    let calls = f.upstream.requests().len();
    let second = client
        .call_idempotent("proem_run_prompt", args, "run-key-1")
        .await
        .structured_content
        .unwrap();
    assert_eq!(f.upstream.requests().len(), calls, "no second model call");
    assert_eq!(second["runId"], first["runId"]);
    assert_eq!(second["replayed"], true);
    assert_eq!(second["recordId"], first["recordId"]);
    assert_eq!(second["outputText"], first["outputText"]);
    let record = client
        .ok("proem_get_record", json!({"recordId": first["recordId"]}))
        .await;
    assert_eq!(record["clientIdempotencyKey"], "run-key-1");
    let result = client
        .call_idempotent(
            "proem_run_prompt",
            json!({"promptId": prompt, "userInput": "other"}),
            "run-key-1",
        )
        .await;
    problem(&result, "idempotency_key_reused");
}

#[tokio::test]
async fn a_retried_failed_run_replays_its_failure_without_calling_the_model_again() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Fails once").await;
    f.upstream.push(Scenario::failing(400, 1));
    let args = json!({"promptId": prompt});
    let first = client
        .call_idempotent("proem_run_prompt", args.clone(), "fail-1")
        .await;
    assert_eq!(first.is_error, Some(true));
    let code = first.structured_content.unwrap()["reason_code"].clone();
    let calls = f.upstream.requests().len();
    let second = client
        .call_idempotent("proem_run_prompt", args, "fail-1")
        .await;
    assert_eq!(second.is_error, Some(true));
    assert_eq!(second.structured_content.unwrap()["reason_code"], code);
    assert_eq!(f.upstream.requests().len(), calls);
}

#[tokio::test]
async fn a_retry_while_the_original_revise_streams_reports_the_streaming_turn() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Slow revise").await;
    let run = client
        .ok(
            "proem_run_prompt",
            json!({"promptId": prompt, "autoFinalize": false}),
        )
        .await;
    f.upstream.push(
        Scenario::text(["a", "b", "c", "d"]).with_inter_token_delay(Duration::from_millis(400)),
    );
    let args = json!({"runId": run["runId"], "userInput": "shorter", "autoFinalize": false});
    let original = client.call_idempotent("proem_revise_run", args.clone(), "rev-live");
    let retry = async {
        // In flight until the original's claim commits, then a replay.
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let r = client
                .call_idempotent("proem_revise_run", args.clone(), "rev-live")
                .await;
            if r.is_error != Some(true) {
                return r.structured_content.unwrap();
            }
            problem(&r, "idempotency_in_flight");
        }
    };
    let (original, retry) = tokio::join!(original, retry);
    assert_eq!(retry["replayed"], true);
    assert_eq!(
        retry["state"], "Running",
        "the retry came while the revise streamed"
    );
    assert_eq!(retry["turnIndex"], 1);
    assert_eq!(retry["outputText"], "", "not the previous turn's output");
    let original = original.structured_content.unwrap();
    assert_eq!(original["turnIndex"], 1);
    assert_eq!(original["outputText"], "abcd");
}

#[tokio::test]
async fn mutations_replay_their_first_answer_under_an_idempotency_key() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let args =
        json!({"name": "Once", "promptText": "x", "modelSettings": f.server.model_settings()});
    let first = client
        .call_idempotent("proem_create_prompt", args.clone(), "create-1")
        .await;
    let second = client
        .call_idempotent("proem_create_prompt", args, "create-1")
        .await;
    assert_eq!(first.structured_content, second.structured_content);
    let listed = client.ok("proem_list_prompts", json!({})).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    problem(
        &client
            .call_idempotent("proem_create_prompt", json!({"name": "x"}), "has space")
            .await,
        "idempotency_key_invalid",
    );
    // A failed call frees its key for a corrected retry.
    let bad = json!({"name": "", "promptText": "x", "modelSettings": f.server.model_settings()});
    problem(
        &client
            .call_idempotent("proem_create_prompt", bad, "create-2")
            .await,
        "invalid_params",
    );
    let good =
        json!({"name": "Fixed", "promptText": "x", "modelSettings": f.server.model_settings()});
    let fixed = client
        .call_idempotent("proem_create_prompt", good, "create-2")
        .await;
    assert_ne!(fixed.is_error, Some(true));
}

#[tokio::test]
async fn a_dropped_connection_does_not_lose_the_run_result() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Durable").await;
    drop(client);
    let mut raw = f.raw(&f.key);
    raw.initialize("2025-11-25").await;
    let sid = raw.session.clone().unwrap();
    f.upstream.push(
        Scenario::text(["slow", " but", " sure"])
            .with_inter_token_delay(Duration::from_millis(150)),
    );
    let call = raw
        .post(&json!({
            "jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": "proem_run_prompt", "arguments": {"promptId": prompt, "userInput": "x"}},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(call.status(), 200);
    // The client goes away before the answer.
    drop(call);
    let url = f.server.at(&format!("/mcp/sessions/{sid}/calls/7"));
    let mut stored = Value::Null;
    for _ in 0..200 {
        let response = f
            .server
            .http
            .get(&url)
            .bearer_auth(&f.key)
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            stored = response.json().await.unwrap();
            if stored["state"] == "complete" {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(stored["state"], "complete", "{stored}");
    assert_eq!(stored["tool"], "proem_run_prompt");
    let out = &stored["result"]["structuredContent"];
    assert_eq!(out["outputText"], "slow but sure");
    assert!(out["recordId"].is_string());
    // Another key cannot read it.
    let other = f.key_with(&["read"]).await;
    let refused = f
        .server
        .http
        .get(&url)
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let missing = f
        .server
        .http
        .get(f.server.at(&format!("/mcp/sessions/{sid}/calls/999")))
        .bearer_auth(&f.key)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["reason_code"], "mcp_call_not_found");
}

#[tokio::test]
async fn without_a_progress_token_the_answer_is_the_result_alone() {
    let f = Fixture::new().await;
    let client = f.client().await;
    let prompt = f.prompt(&client, "Quiet").await;
    let mut raw = f.raw(&f.key);
    raw.initialize("2025-11-25").await;
    let messages = raw
        .request(
            3,
            "tools/call",
            json!({"name": "proem_run_prompt", "arguments": {"promptId": prompt}}),
        )
        .await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(
        messages[0]["result"]["structuredContent"]["outputText"],
        "Hello world"
    );
    let with_token = raw
        .request(
            4,
            "tools/call",
            json!({"name": "proem_run_prompt", "arguments": {"promptId": prompt}, "_meta": {"progressToken": "p1"}}),
        )
        .await;
    let progress: Vec<&Value> = with_token
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .collect();
    assert_eq!(progress.len(), 2);
    assert_eq!(progress[0]["params"]["progressToken"], "p1");
    assert_eq!(progress[0]["params"]["message"], "Hello");
}
