//! PATCH /records/{id}: the edit-delta rules, fromTurn, caps and ownership.

use serde_json::{Value, json};

use super::records::*;
use super::run_support::RunFixture;
use super::support::expect_problem;

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
