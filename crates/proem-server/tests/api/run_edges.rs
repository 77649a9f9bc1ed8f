//! The run surface at its caps and edges: each cap accepted at its bound and refused past it,
//! rewinds on finalize, replays of revise, the record-revise checks, the reaper, and a failed
//! revision's way back to Active.

use std::time::Duration;

use base64::Engine as _;
use proem_testkit::Scenario;
use serde_json::{Value, json};

use super::run_support::{RunFixture, find};
use super::support::expect_problem;

fn png_b64(side: u32) -> String {
    let png = proem_core::attachments::image::samples::png(side, side);
    base64::engine::general_purpose::STANDARD.encode(png)
}

async fn record_id(r: reqwest::Response) -> String {
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["recordId"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn images_on_a_model_without_image_input_are_invalid_params_model_lacks_input_image() {
    let f = RunFixture::with(proem_core::catalog::ProviderKind::OpenaiChat, |c| {
        for p in c.providers.values_mut() {
            for m in &mut p.models {
                m.input_modalities = vec!["text".into()];
            }
        }
    })
    .await;
    let body = expect_problem(
        f.post(
            &format!("/prompts/{}/run", f.prompt),
            json!({"stream": true, "images": [{"base64": png_b64(128)}]}),
        )
        .await,
        400,
        "invalid_params",
    )
    .await;
    assert_eq!(
        body["invalid_params"][0]["reason"],
        "model_lacks_input_image"
    );
    assert!(f.upstream.requests().is_empty());
}

#[tokio::test]
async fn sixteen_images_are_accepted() {
    let f = RunFixture::new().await;
    let image = png_b64(128);
    let sixteen: Vec<Value> = (0..16).map(|_| json!({"base64": image})).collect();
    let events = f
        .run(json!({"images": sixteen, "autoFinalize": false}))
        .await;
    find(&events, "run_completed");
    let sent = f.upstream.last_request().unwrap().body.to_string();
    assert_eq!(sent.matches("data:image/png;base64,").count(), 16);
}

#[tokio::test]
async fn an_image_past_10_mb_is_field_too_large() {
    let f = RunFixture::new().await;
    // Base64 of 10 MB + 1 byte: refused from its length, before decoding.
    let big = base64::engine::general_purpose::STANDARD.encode(vec![0_u8; 10 * 1024 * 1024 + 1]);
    let body = expect_problem(
        f.post(
            &format!("/prompts/{}/run", f.prompt),
            json!({"stream": true, "images": [{"base64": big}]}),
        )
        .await,
        413,
        "field_too_large",
    )
    .await;
    assert_eq!(body["invalid_params"][0]["name"], "images[0]");
    assert!(f.upstream.requests().is_empty());
}

#[tokio::test]
async fn a_run_input_past_256_kb_is_input_too_large() {
    let f = RunFixture::new().await;
    let at_cap = "x".repeat(256 * 1024);
    let events = f
        .run(json!({"userInput": at_cap, "autoFinalize": false}))
        .await;
    find(&events, "run_completed");
    expect_problem(
        f.post(
            &format!("/prompts/{}/run", f.prompt),
            json!({"stream": true, "userInput": "x".repeat(256 * 1024 + 1)}),
        )
        .await,
        413,
        "input_too_large",
    )
    .await;
    assert_eq!(f.upstream.requests().len(), 1);
}

#[tokio::test]
async fn intermediate_output_of_exactly_32_kb_is_accepted() {
    let f = RunFixture::new().await;
    let run_id = f.active_run().await;
    let at_cap = "y".repeat(32 * 1024);
    let events = f
        .revise(&run_id, json!({"intermediateOutput": at_cap}))
        .await;
    find(&events, "run_completed");
    let sent = f.upstream.last_request().unwrap().body.to_string();
    assert!(sent.contains(&at_cap));
}

#[tokio::test]
async fn notes_and_tag_of_exactly_64_kb_are_accepted() {
    let f = RunFixture::new().await;
    let run_id = f.active_run().await;
    let at_cap = "n".repeat(64 * 1024);
    let id = record_id(
        f.finalize(
            &run_id,
            json!({"finalText": "edited", "tag": at_cap, "notes": at_cap}),
        )
        .await,
    )
    .await;
    let record: Value = f.get(&format!("/records/{id}")).await.json().await.unwrap();
    assert_eq!(record["notes"].as_str().unwrap().len(), 64 * 1024);
    assert_eq!(record["tag"].as_str().unwrap().len(), 64 * 1024);
}

#[tokio::test]
async fn finalize_from_turn_rewinds_before_saving() {
    let f = RunFixture::new().await;
    let run_id = f.active_run().await;
    f.upstream.push(Scenario::text(["Formal"]));
    f.revise(&run_id, json!({})).await;
    assert_eq!(f.run_state(&run_id).await["turnCount"], 2);
    let r = f.finalize(&run_id, json!({"fromTurn": 0})).await;
    let id = record_id(r).await;
    let record: Value = f.get(&format!("/records/{id}")).await.json().await.unwrap();
    assert_eq!(record["revisionCount"], 0);
    assert_eq!(record["finalCopiedOutput"], "Hello world");
    assert_eq!(record["turns"].as_array().unwrap().len(), 1);
    expect_problem(
        f.finalize(&run_id, json!({"fromTurn": 5})).await,
        400,
        "from_turn_out_of_range",
    )
    .await;
    expect_problem(
        f.finalize(&run_id, json!({"fromTurn": -1})).await,
        400,
        "from_turn_invalid",
    )
    .await;
}

#[tokio::test]
async fn a_revise_retried_with_its_idempotency_key_ends_in_run_replayed() {
    let f = RunFixture::new().await;
    let run_id = f.active_run().await;
    let body = json!({"instruction": "shorter", "stream": true});
    let path = format!("/runs/{run_id}/revise");
    let first = f.post_with_key(&path, body.clone(), "rev-1").await;
    assert_eq!(first.status(), 200);
    first.text().await.unwrap();
    let again = f.post_with_key(&path, body, "rev-1").await;
    assert_eq!(again.status(), 200);
    let events = super::run_support::parse_sse(&again.text().await.unwrap());
    let replayed = find(&events, "run_replayed");
    assert_eq!(replayed["runId"], run_id.as_str());
    assert_eq!(replayed["turnIndex"], 1);
    assert!(!events.iter().any(|e| e.event == "run_completed"));
    // One model call for the run, one for the revise: the retry called nothing.
    assert_eq!(f.upstream.requests().len(), 2);
    assert_eq!(f.run_state(&run_id).await["turnCount"], 2);
}

#[tokio::test]
async fn record_revise_validates_its_body_before_taking_the_lock() {
    let f = RunFixture::new().await;
    let run_id = f.active_run().await;
    let id = record_id(f.finalize(&run_id, json!({})).await).await;
    let path = format!("/records/{id}/revise");
    expect_problem(
        f.post(&path, json!({"stream": true})).await,
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
            json!({"instruction": "x", "stream": true, "intermediateOutput": "z".repeat(32 * 1024 + 1)}),
        )
        .await,
        413,
        "intermediate_output_too_large",
    )
    .await;
    expect_problem(
        f.post(
            &path,
            json!({"instruction": "x", "stream": true, "fromTurn": 3}),
        )
        .await,
        400,
        "from_turn_out_of_range",
    )
    .await;
    // None of them held the lock: a valid revise goes through at once.
    let events = f
        .stream(&path, json!({"instruction": "x", "stream": true}))
        .await;
    find(&events, "run_completed");
}

#[tokio::test]
async fn the_reaper_expires_idle_sessions_and_spares_live_ones() {
    let f = RunFixture::new().await;
    let idle = f.active_run().await;
    f.server.clock.advance(Duration::from_secs(3000));
    let live = f.active_run().await;
    f.server.clock.advance(Duration::from_secs(601));
    let engine = f.server.state.engine();
    assert_eq!(engine.expire_sessions().await.unwrap(), 1);
    // The second round finds nothing: the first one moved the idle run.
    assert_eq!(engine.expire_sessions().await.unwrap(), 0);
    assert_eq!(f.run_state(&idle).await["state"], "Expired");
    assert_eq!(f.run_state(&live).await["state"], "Active");
}

#[tokio::test]
async fn a_failed_revision_leaves_the_run_active_with_its_turns() {
    let f = RunFixture::new().await;
    let run_id = f.active_run().await;
    f.upstream.push(Scenario::error(400));
    let events = f.revise(&run_id, json!({})).await;
    let failed = find(&events, "run_failed");
    assert_eq!(failed["charged"], false);
    let run = f.run_state(&run_id).await;
    assert_eq!(run["state"], "Active");
    assert_eq!(run["turnCount"], 1);
    assert_eq!(run["failureReasonCode"], Value::Null);
    // And it can be revised again.
    let events = f.revise(&run_id, json!({})).await;
    assert_eq!(find(&events, "run_completed")["turnIndex"], 1);
}

#[tokio::test]
async fn an_amending_finalize_retried_with_its_key_replays_and_amends_once() {
    let f = RunFixture::new().await;
    let run_id = f.active_run().await;
    let path = format!("/runs/{run_id}/finalize");
    assert_eq!(f.finalize(&run_id, json!({})).await.status(), 200);
    let amend = json!({"finalText": "amended"});
    let first = f.post_with_key(&path, amend.clone(), "amend-1").await;
    assert_eq!(first.status(), 200);
    let first = first.text().await.unwrap();
    let before = f.run_state(&run_id).await;
    let again = f.post_with_key(&path, amend, "amend-1").await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.text().await.unwrap(), first);
    let after = f.run_state(&run_id).await;
    assert_eq!(after["reopenCount"], before["reopenCount"]);
    assert_eq!(after["generation"], before["generation"]);
}

#[tokio::test]
async fn an_empty_finalize_after_a_notes_patch_replays_the_new_notes() {
    let f = RunFixture::new().await;
    let run_id = f.active_run().await;
    assert_eq!(f.finalize(&run_id, json!({})).await.status(), 200);
    assert_eq!(
        f.finalize(&run_id, json!({"notes": "second thoughts"}))
            .await
            .status(),
        200
    );
    let replay: Value = f.finalize(&run_id, json!({})).await.json().await.unwrap();
    assert_eq!(replay["record"]["notes"], "second thoughts");
}

#[tokio::test]
async fn a_reopening_revise_follows_the_users_auto_finalize_default() {
    let f = RunFixture::new().await;
    let r = f
        .server
        .http
        .patch(f.url("/settings"))
        .header("x-api-key", &f.key)
        .json(&json!({"autoFinalizeMcpRuns": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let run_id = f.active_run().await;
    assert_eq!(f.finalize(&run_id, json!({})).await.status(), 200);
    let events = f.revise(&run_id, json!({})).await;
    find(&events, "run_completed");
    assert!(!events.iter().any(|e| e.event == "record_finalized"));
    assert_eq!(f.run_state(&run_id).await["state"], "Active");
}

impl RunFixture {
    /// The run's row, read past the engine (GET would move an expired run on the way).
    async fn row(&self, run_id: &str) -> proem_core::store::runs::SessionRow {
        let pool = sqlx::AnyPool::connect(&self.server.db.url).await.unwrap();
        let row = proem_core::store::runs::get(&pool, run_id)
            .await
            .unwrap()
            .unwrap();
        pool.close().await;
        row
    }

    async fn delete(&self, path: &str) -> reqwest::Response {
        self.server
            .http
            .delete(self.url(path))
            .header("x-api-key", &self.key)
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn deleting_the_prompt_abandons_its_finalized_runs_too() {
    let f = RunFixture::new().await;
    let run_id = f.active_run().await;
    assert_eq!(f.finalize(&run_id, json!({})).await.status(), 200);
    assert_eq!(
        f.delete(&format!("/prompts/{}", f.prompt)).await.status(),
        200
    );
    assert_eq!(f.row(&run_id).await.state, "Abandoned");
}

#[tokio::test]
async fn deleting_a_version_abandons_its_runs() {
    let f = RunFixture::new().await;
    let run_id = f.active_run().await;
    let version_id = f.row(&run_id).await.version_id;
    let r = f
        .post(
            &format!("/prompts/{}/versions", f.prompt),
            json!({"promptText": "Another", "modelSettings": f.server.model_settings()}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let r = f
        .delete(&format!("/prompts/{}/versions/{version_id}", f.prompt))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(f.row(&run_id).await.state, "Abandoned");
    expect_problem(
        f.post(
            &format!("/runs/{run_id}/revise"),
            json!({"instruction": "x", "stream": true}),
        )
        .await,
        409,
        "session_abandoned",
    )
    .await;
}

#[tokio::test]
async fn revoking_a_key_abandons_its_runs_as_session_abandoned() {
    let f = RunFixture::new().await;
    let run_id = f.active_run().await;
    let finalized = f.active_run().await;
    assert_eq!(f.finalize(&finalized, json!({})).await.status(), 200);
    let user = f
        .server
        .state
        .store()
        .user_by_id(&f.user_id)
        .await
        .unwrap()
        .unwrap();
    let other = f.server.key_for(&user, &["read", "execute", "write"]).await;
    let key_id = f.row(&run_id).await.key_id;
    assert!(f.server.state.store().revoke_key(&key_id).await.unwrap());
    for id in [&run_id, &finalized] {
        let r = f
            .server
            .http
            .post(f.url(&format!("/runs/{id}/revise")))
            .header("x-api-key", &other)
            .json(&json!({"instruction": "x", "stream": true}))
            .send()
            .await
            .unwrap();
        expect_problem(r, 409, "session_abandoned").await;
    }
    assert!(
        f.upstream.requests().len() == 2,
        "no model call after revocation"
    );
}

#[tokio::test]
async fn a_revise_whose_copy_of_the_previous_output_passes_2_mb_is_refused_before_the_call() {
    let f = RunFixture::new().await;
    let run_id = f.active_run().await;
    // 1.2 MB stored: under the cap, but the revision's copy of it would pass it.
    let turns = serde_json::to_string(&json!([{"kind": "run", "input": "x", "output": "y".repeat(1200 * 1024), "modelId": "m", "inputTokens": 0, "outputTokens": 0, "costMillicents": 0}])).unwrap();
    f.server
        .sql(&format!(
            "UPDATE run_sessions SET turns = '{turns}' WHERE id = '{run_id}'"
        ))
        .await;
    let r = f
        .post(
            &format!("/runs/{run_id}/revise"),
            json!({"instruction": "x", "stream": true}),
        )
        .await;
    expect_problem(r, 413, "session_deltas_too_large").await;
    assert_eq!(f.upstream.requests().len(), 1, "the revise called no model");
    assert_eq!(f.run_state(&run_id).await["state"], "Active");
}

#[tokio::test]
async fn reopening_a_run_continues_from_its_patched_record() {
    let f = RunFixture::new().await;
    let run_id = f.active_run().await;
    let id = record_id(f.finalize(&run_id, json!({})).await).await;
    assert_eq!(
        f.patch_record(&id, json!({"output": "Hello, edited"}))
            .await
            .status(),
        200
    );
    f.upstream.push(Scenario::text(["Formal"]));
    let events = f.revise(&run_id, json!({})).await;
    assert_eq!(find(&events, "record_finalized")["recordId"], id.as_str());
    let sent = f.upstream.last_request().unwrap().body.to_string();
    assert!(sent.contains("Previous output:\\nHello, edited"), "{sent}");
    let record: Value = f.get(&format!("/records/{id}")).await.json().await.unwrap();
    // The edit is the revision's starting point, so fromTurn 0 restores it (spec: "restores the
    // pre-revision desired output").
    assert_eq!(record["turns"][1]["intermediateOutput"], "Hello, edited");
    assert_eq!(record["turns"][0]["output"], "Hello, edited");
    assert_eq!(record["finalCopiedOutput"], "Formal");
}

#[tokio::test]
async fn an_amend_after_a_patch_rewind_keeps_the_revisions_dropped() {
    let f = RunFixture::new().await;
    let run_id = f.active_run().await;
    f.upstream.push(Scenario::text(["Formal"]));
    f.revise(&run_id, json!({})).await;
    let id = record_id(f.finalize(&run_id, json!({})).await).await;
    assert_eq!(
        f.patch_record(&id, json!({"fromTurn": 0})).await.status(),
        200
    );
    let r = f
        .finalize(&run_id, json!({"finalText": "Hand-written"}))
        .await;
    assert_eq!(r.status(), 200);
    let record: Value = f.get(&format!("/records/{id}")).await.json().await.unwrap();
    assert_eq!(record["revisionCount"], 0, "{record}");
    assert_eq!(record["editCount"], 1);
    assert_eq!(record["turns"][1]["intermediateOutput"], "Hello world");
}

#[tokio::test]
async fn clearing_a_records_input_or_output_is_required_field_clear() {
    let f = RunFixture::new().await;
    let run_id = f.active_run().await;
    let id = record_id(f.finalize(&run_id, json!({})).await).await;
    for field in ["input", "output"] {
        let body = expect_problem(
            f.patch_record(&id, json!({ field: null })).await,
            400,
            "invalid_request",
        )
        .await;
        assert_eq!(body["invalid_params"][0]["name"], field);
        assert_eq!(body["invalid_params"][0]["reason"], "required_field_clear");
    }
}
