//! Version description modes (v1.3 changelog): Auto (0) leaves `description` to the server,
//! writing `description` takes ownership (Manual, 1), `""` clears it and returns to Auto, `null` is
//! a no-op, an explicit `descriptionMode` wins. No describer is configured in tests, so nothing is
//! generated and only the mode rules are observed.

use serde_json::{Value, json};

use super::authoring::{
    Api, Created, PROMPT_TEXT, invalid_params, ok, param, version_path, versions_path,
};
use super::support::expect_problem;

/// `(description, descriptionMode)` of a version.
fn mode(v: &Value) -> (Value, Value) {
    (v["description"].clone(), v["descriptionMode"].clone())
}

fn auto() -> (Value, Value) {
    (Value::Null, json!(0))
}

fn manual(description: &str) -> (Value, Value) {
    (json!(description), json!(1))
}

async fn patch(api: &Api, created: &Created, body: Value) -> Value {
    let path = version_path(&created.prompt_id, &created.version_id);
    let v = ok(api.patch(&path, &body).await, 200).await;
    assert_eq!(
        v,
        api.version(&created.prompt_id, &created.version_id).await,
        "the answer is what was stored"
    );
    v
}

// ── New versions ─────────────────────────────────────────────────────────────────────────────

#[tokio::test]
async fn new_version_without_description_is_auto() {
    let api = Api::start().await;
    let created = api.create_prompt("Auto").await;
    let first = api.version(&created.prompt_id, &created.version_id).await;
    assert_eq!(mode(&first), auto());
    let second = api.create_version(&created.prompt_id, json!({})).await;
    assert_eq!(mode(&second), auto());
    let empty = api
        .create_version(&created.prompt_id, json!({ "description": "" }))
        .await;
    assert_eq!(mode(&empty), auto());
}

#[tokio::test]
async fn new_version_with_description_is_manual() {
    let api = Api::start().await;
    let created = api.create_prompt("Manual").await;
    let v = api
        .create_version(
            &created.prompt_id,
            json!({ "description": "Summarizes text in three bullets." }),
        )
        .await;
    assert_eq!(mode(&v), manual("Summarizes text in three bullets."));
    assert_eq!(
        mode(
            &api.version(&created.prompt_id, v["id"].as_str().unwrap())
                .await
        ),
        manual("Summarizes text in three bullets.")
    );
}

#[tokio::test]
async fn new_version_with_explicit_description_mode_keeps_that_mode() {
    let api = Api::start().await;
    let created = api.create_prompt("Explicit").await;
    let v = api
        .create_version(
            &created.prompt_id,
            json!({ "description": "x", "descriptionMode": 0 }),
        )
        .await;
    assert_eq!(mode(&v), (json!("x"), json!(0)));
    let v = api
        .create_version(&created.prompt_id, json!({ "descriptionMode": 1 }))
        .await;
    assert_eq!(mode(&v), (Value::Null, json!(1)));
}

#[tokio::test]
async fn new_version_with_description_mode_2_is_invalid_params() {
    let api = Api::start().await;
    let created = api.create_prompt("Bad mode").await;
    let r = api
        .post(
            &versions_path(&created.prompt_id),
            &json!({ "promptText": PROMPT_TEXT, "modelSettings": api.settings(), "descriptionMode": 2 }),
        )
        .await;
    let problem = expect_problem(r, 400, "invalid_params").await;
    assert_eq!(
        invalid_params(&problem),
        vec![param("descriptionMode", "not_in_enum")]
    );
    assert_eq!(api.version_numbers(&created.prompt_id).await, vec![1]);
}

// ── Patch ────────────────────────────────────────────────────────────────────────────────────

#[tokio::test]
async fn patching_description_flips_to_manual_and_stores_it() {
    let api = Api::start().await;
    let created = api.create_prompt("Flip").await;
    let v = patch(&api, &created, json!({ "description": "x" })).await;
    assert_eq!(mode(&v), manual("x"));
}

#[tokio::test]
async fn patching_description_null_is_a_no_op() {
    let api = Api::start().await;
    let created = api.create_prompt("Null").await;
    let v = patch(&api, &created, json!({ "description": null })).await;
    assert_eq!(mode(&v), auto());
    patch(&api, &created, json!({ "description": "kept" })).await;
    let v = patch(&api, &created, json!({ "description": null })).await;
    assert_eq!(mode(&v), manual("kept"));
}

#[tokio::test]
async fn patching_description_empty_clears_it_and_returns_to_auto() {
    let api = Api::start().await;
    let created = api.create_prompt("Clear").await;
    patch(&api, &created, json!({ "description": "mine" })).await;
    let v = patch(&api, &created, json!({ "description": "" })).await;
    assert_eq!(mode(&v), auto());
}

#[tokio::test]
async fn explicit_description_mode_wins_over_the_description_flip() {
    let api = Api::start().await;
    let created = api.create_prompt("Wins").await;
    let v = patch(
        &api,
        &created,
        json!({ "description": "x", "descriptionMode": 0 }),
    )
    .await;
    assert_eq!(mode(&v), (json!("x"), json!(0)));
    let v = patch(
        &api,
        &created,
        json!({ "description": "", "descriptionMode": 1 }),
    )
    .await;
    assert_eq!(mode(&v), (Value::Null, json!(1)));
}

#[tokio::test]
async fn patching_description_mode_alone_changes_only_the_mode() {
    let api = Api::start().await;
    let created = api.create_prompt("Mode only").await;
    patch(&api, &created, json!({ "description": "held" })).await;
    let v = patch(&api, &created, json!({ "descriptionMode": 0 })).await;
    assert_eq!(mode(&v), (json!("held"), json!(0)));
    let v = patch(&api, &created, json!({ "descriptionMode": 1 })).await;
    assert_eq!(mode(&v), manual("held"));
}

#[tokio::test]
async fn patching_prompt_text_keeps_a_manual_description() {
    let api = Api::start().await;
    let created = api.create_prompt("Owned").await;
    patch(&api, &created, json!({ "description": "mine" })).await;
    let v = patch(
        &api,
        &created,
        json!({ "promptText": "A different prompt." }),
    )
    .await;
    assert_eq!(v["promptText"], "A different prompt.");
    assert_eq!(mode(&v), manual("mine"));
}

#[tokio::test]
async fn patching_description_mode_2_is_invalid_params_and_changes_nothing() {
    let api = Api::start().await;
    let created = api.create_prompt("Bad mode").await;
    let before = api.version(&created.prompt_id, &created.version_id).await;
    let path = version_path(&created.prompt_id, &created.version_id);
    let r = api
        .patch(&path, &json!({ "description": "x", "descriptionMode": 2 }))
        .await;
    let problem = expect_problem(r, 400, "invalid_params").await;
    assert_eq!(
        invalid_params(&problem),
        vec![param("descriptionMode", "not_in_enum")]
    );
    assert_eq!(
        api.version(&created.prompt_id, &created.version_id).await,
        before
    );
}

#[tokio::test]
async fn description_mode_that_is_not_a_small_integer_is_invalid_request() {
    let api = Api::start().await;
    let created = api.create_prompt("Typed mode").await;
    let before = api.version(&created.prompt_id, &created.version_id).await;
    let path = version_path(&created.prompt_id, &created.version_id);
    for value in [json!("manual"), json!(-1), json!(1.5)] {
        let r = api.patch(&path, &json!({ "descriptionMode": value })).await;
        let problem = expect_problem(r, 400, "invalid_request").await;
        assert_eq!(
            invalid_params(&problem),
            vec![param("descriptionMode", "invalid_type")],
            "{value}"
        );
    }
    assert_eq!(
        api.version(&created.prompt_id, &created.version_id).await,
        before
    );
}

// ── Where the description shows ──────────────────────────────────────────────────────────────

#[tokio::test]
async fn prompt_description_is_its_current_versions_description() {
    let api = Api::start().await;
    let created = api.create_prompt("Shown").await;
    patch(
        &api,
        &created,
        json!({ "description": "Turns text into bullets." }),
    )
    .await;
    let prompt = api.prompt(&created.prompt_id).await;
    assert_eq!(prompt["description"], "Turns text into bullets.");
    let list = ok(api.get(super::authoring::PROMPTS).await, 200).await;
    assert_eq!(list["items"][0]["description"], "Turns text into bullets.");
    // A new current version without a description takes it away again.
    api.create_version(&created.prompt_id, json!({ "setAsCurrent": true }))
        .await;
    assert_eq!(
        api.prompt(&created.prompt_id).await["description"],
        Value::Null
    );
    let versions = ok(api.get(&versions_path(&created.prompt_id)).await, 200).await;
    assert_eq!(
        mode(&versions["items"][1]),
        manual("Turns text into bullets.")
    );
}
