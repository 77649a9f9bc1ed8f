//! Manual records, self-delete, record revise, images and the usage log.

use std::time::Duration;

use proem_testkit::{Scenario, test_model_id};
use serde_json::{Value, json};

use super::contract_support::{ids, json_with};
use super::records::*;
use super::run_support::{RunFixture, find};
use super::support::expect_problem;

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
async fn concurrent_retries_of_one_idempotency_key_create_one_record() {
    let f = RunFixture::new().await;
    let mut created = Vec::new();
    for i in 0..6 {
        let body = json!({"promptId": f.prompt, "input": "in", "output": "out", "idempotencyKey": format!("race-{i}")});
        let (a, b) = tokio::join!(f.post("/records", body.clone()), f.post("/records", body));
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 201], "round {i}");
        let (a, b): (Value, Value) = (a.json().await.unwrap(), b.json().await.unwrap());
        assert_eq!(a["id"], b["id"], "round {i}");
        created.push(str_of(&a["id"]));
    }
    created.reverse();
    assert_eq!(ids(&list(&f, &[("source", "Manual")]).await), created);
}

#[tokio::test]
async fn concurrent_creates_with_one_idempotency_key_on_two_prompts_create_one_record() {
    let f = RunFixture::new().await;
    let other = f.server.create_prompt(&f.key, "Other").await;
    for i in 0..4 {
        let key = format!("span-{i}");
        let on = |prompt: &str| json!({"promptId": prompt, "input": "in", "output": "out", "idempotencyKey": key});
        let (a, b) = tokio::join!(
            f.post("/records", on(&f.prompt)),
            f.post("/records", on(&other))
        );
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 409], "round {i}");
        let refused = if a.status() == 409 { a } else { b };
        expect_problem(refused, 409, "idempotency_key_reused").await;
    }
    assert_eq!(ids(&list(&f, &[]).await).len(), 4);
}

#[tokio::test]
async fn create_record_retry_after_a_patch_replays_the_original_record() {
    let f = RunFixture::new().await;
    let body = json!({"promptId": f.prompt, "input": "in", "output": "out", "notes": "n", "idempotencyKey": "seed-p"});
    let first = json_with(f.post("/records", body.clone()).await, 201).await;
    let id = str_of(&first["id"]);
    patch(&f, &id, json!({"output": "edited", "notes": null})).await;
    // The retry matches the payload the key created, not what the record holds now.
    let again = json_with(f.post("/records", body).await, 200).await;
    assert_eq!(again["id"], id.as_str());
    assert_eq!(again["finalCopiedOutput"], "edited", "the record as it is");
    // A payload that matches the patched record, but not the original call, is another call.
    expect_problem(
        f.post(
            "/records",
            json!({"promptId": f.prompt, "input": "in", "output": "edited", "idempotencyKey": "seed-p"}),
        )
        .await,
        409,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(ids(&list(&f, &[]).await), vec![id]);
}

#[tokio::test]
async fn create_record_retry_after_the_record_was_deleted_creates_a_new_record() {
    let f = RunFixture::new().await;
    let body =
        json!({"promptId": f.prompt, "input": "in", "output": "out", "idempotencyKey": "seed-d"});
    let first = str_of(&json_with(f.post("/records", body.clone()).await, 201).await["id"]);
    assert_eq!(delete_as(&f, &f.key, &first).await.status(), 204);
    let second = str_of(&json_with(f.post("/records", body.clone()).await, 201).await["id"]);
    assert_ne!(second, first);
    // The new record is the key's record from now on.
    let third = json_with(f.post("/records", body).await, 200).await;
    assert_eq!(third["id"], second.as_str());
    assert_eq!(ids(&list(&f, &[]).await), vec![second]);
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
