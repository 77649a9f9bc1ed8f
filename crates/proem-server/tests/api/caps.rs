//! Field caps (spec "Field caps"): name ≤ 256 characters, promptText ≤ 256 KB (262,144 bytes),
//! modelSettings ≤ 64 KB (65,536 bytes of JSON). Each is tested at the cap (accepted) and one past
//! it (`413 field_too_large` naming the field, nothing written). An empty or whitespace-only name
//! is `400 invalid_params`.

use proem_api::models::{ParamKind, ParamSpec};
use proem_testkit::TEST_PROVIDER;
use serde_json::{Value, json};

use super::authoring::{
    Api, PROMPT_TEXT, PROMPTS, invalid_params, ok, param, prompt_path, version_path, versions_path,
};
use super::support::expect_problem;

const NAME_CAP: usize = 256;
const PROMPT_TEXT_CAP: usize = 256 * 1024;
const MODEL_SETTINGS_CAP: usize = 64 * 1024;

/// Expects `413 field_too_large` naming `field`.
async fn too_large(response: reqwest::Response, field: &str) {
    let problem = expect_problem(response, 413, "field_too_large").await;
    assert_eq!(invalid_params(&problem), vec![param(field, "too_large")]);
}

fn create_body(api: &Api, name: &str, prompt_text: &str) -> Value {
    json!({ "name": name, "promptText": prompt_text, "modelSettings": api.settings() })
}

// ── name ─────────────────────────────────────────────────────────────────────────────────────

#[tokio::test]
async fn name_of_256_characters_is_accepted_even_when_longer_in_bytes() {
    let api = Api::start().await;
    let name = "é".repeat(NAME_CAP);
    assert_eq!(name.len(), 2 * NAME_CAP);
    let created = ok(
        api.post(PROMPTS, &create_body(&api, &name, PROMPT_TEXT))
            .await,
        201,
    )
    .await;
    let id = created["promptId"].as_str().unwrap();
    assert_eq!(api.prompt(id).await["name"], name.as_str());
}

#[tokio::test]
async fn name_of_257_characters_is_field_too_large_and_creates_nothing() {
    let api = Api::start().await;
    let r = api
        .post(
            PROMPTS,
            &create_body(&api, &"n".repeat(NAME_CAP + 1), PROMPT_TEXT),
        )
        .await;
    too_large(r, "name").await;
    assert_eq!(api.prompt_ids().await, Vec::<String>::new());
}

#[tokio::test]
async fn patching_a_name_to_256_characters_is_accepted_and_to_257_is_field_too_large() {
    let api = Api::start().await;
    let created = api.create_prompt("Short").await;
    let path = prompt_path(&created.prompt_id);
    let at_cap = "n".repeat(NAME_CAP);
    let v = ok(api.patch(&path, &json!({ "name": at_cap })).await, 200).await;
    assert_eq!(v["name"], at_cap.as_str());
    let r = api
        .patch(&path, &json!({ "name": "n".repeat(NAME_CAP + 1) }))
        .await;
    too_large(r, "name").await;
    assert_eq!(
        api.prompt(&created.prompt_id).await["name"],
        at_cap.as_str()
    );
}

#[tokio::test]
async fn empty_or_whitespace_name_is_invalid_params_and_creates_nothing() {
    let api = Api::start().await;
    for name in ["", "   ", "\t\n"] {
        let r = api
            .post(PROMPTS, &create_body(&api, name, PROMPT_TEXT))
            .await;
        let problem = expect_problem(r, 400, "invalid_params").await;
        assert_eq!(invalid_params(&problem), vec![param("name", "required")]);
    }
    assert_eq!(api.prompt_ids().await, Vec::<String>::new());
}

#[tokio::test]
async fn patching_a_name_to_empty_or_whitespace_is_invalid_params() {
    let api = Api::start().await;
    let created = api.create_prompt("Kept").await;
    let path = prompt_path(&created.prompt_id);
    for name in ["", "  "] {
        let r = api.patch(&path, &json!({ "name": name })).await;
        let problem = expect_problem(r, 400, "invalid_params").await;
        assert_eq!(invalid_params(&problem), vec![param("name", "required")]);
    }
    assert_eq!(api.prompt(&created.prompt_id).await["name"], "Kept");
}

// ── promptText ───────────────────────────────────────────────────────────────────────────────

#[tokio::test]
async fn prompt_text_of_262144_bytes_is_accepted_on_create_new_version_and_patch() {
    let api = Api::start().await;
    let text = "p".repeat(PROMPT_TEXT_CAP);
    let created = ok(
        api.post(PROMPTS, &create_body(&api, "Big", &text)).await,
        201,
    )
    .await;
    let (pid, vid) = (
        created["promptId"].as_str().unwrap(),
        created["currentVersionId"].as_str().unwrap(),
    );
    assert_eq!(api.version(pid, vid).await["promptText"], text.as_str());
    let v = api.create_version(pid, json!({ "promptText": text })).await;
    assert_eq!(v["promptText"], text.as_str());
    // 131,072 two-byte characters: the cap counts bytes.
    let wide = "é".repeat(PROMPT_TEXT_CAP / 2);
    let v = ok(
        api.patch(&version_path(pid, vid), &json!({ "promptText": wide }))
            .await,
        200,
    )
    .await;
    assert_eq!(v["promptText"], wide.as_str());
}

#[tokio::test]
async fn prompt_text_of_262145_bytes_is_field_too_large_on_create_and_creates_nothing() {
    let api = Api::start().await;
    let r = api
        .post(
            PROMPTS,
            &create_body(&api, "Too big", &"p".repeat(PROMPT_TEXT_CAP + 1)),
        )
        .await;
    too_large(r, "promptText").await;
    assert_eq!(api.prompt_ids().await, Vec::<String>::new());
}

#[tokio::test]
async fn prompt_text_over_256_kb_is_field_too_large_on_new_version_and_adds_none() {
    let api = Api::start().await;
    let created = api.create_prompt("Versions").await;
    let r = api
        .post(
            &versions_path(&created.prompt_id),
            &json!({ "promptText": "p".repeat(PROMPT_TEXT_CAP + 1), "modelSettings": api.settings(),
                     "setAsCurrent": true }),
        )
        .await;
    too_large(r, "promptText").await;
    assert_eq!(api.version_numbers(&created.prompt_id).await, vec![1]);
}

#[tokio::test]
async fn prompt_text_over_256_kb_is_field_too_large_on_patch_and_changes_nothing() {
    let api = Api::start().await;
    let created = api.create_prompt("Patch").await;
    let path = version_path(&created.prompt_id, &created.version_id);
    let before = api.version(&created.prompt_id, &created.version_id).await;
    // 131,073 characters, 262,146 bytes: under the cap in characters, over it in bytes.
    for text in [
        "p".repeat(PROMPT_TEXT_CAP + 1),
        "é".repeat(PROMPT_TEXT_CAP / 2 + 1),
    ] {
        let r = api
            .patch(
                &path,
                &json!({ "promptText": text, "versionDescription": "x" }),
            )
            .await;
        too_large(r, "promptText").await;
    }
    assert_eq!(
        api.version(&created.prompt_id, &created.version_id).await,
        before
    );
}

// ── modelSettings ────────────────────────────────────────────────────────────────────────────

const WIDE_MODEL: &str = "wide-model";

/// Settings of the wide model whose one parameter, `note`, holds `value`.
fn wide_settings(value: &str) -> Value {
    json!({
        "model_id": proem_core::catalog::model_id(TEST_PROVIDER, WIDE_MODEL),
        "parameters": { "note": value },
    })
}

/// The length of a `note` value that makes the settings JSON exactly `bytes` long.
fn note_len_for(bytes: usize) -> usize {
    bytes - wide_settings("").to_string().len()
}

/// A server whose catalog also has a model with an enum parameter whose two allowed values make
/// valid settings of exactly 64 KB and 64 KB + 1 byte.
async fn start_with_wide_model() -> Api {
    Api::start_with(|c| {
        let provider = c.providers.get_mut(TEST_PROVIDER).unwrap();
        let mut wide = provider.models[0].clone();
        wide.name = WIDE_MODEL.to_owned();
        wide.recommended.clear();
        wide.parameters.clear();
        wide.parameters.insert(
            "note".to_owned(),
            ParamSpec {
                kind: ParamKind::Enum,
                values: vec![
                    "a".repeat(note_len_for(MODEL_SETTINGS_CAP)),
                    "b".repeat(note_len_for(MODEL_SETTINGS_CAP + 1)),
                ],
                min: None,
                max: None,
                provider_default: None,
            },
        );
        provider.models.push(wide);
    })
    .await
}

fn at_cap() -> Value {
    let settings = wide_settings(&"a".repeat(note_len_for(MODEL_SETTINGS_CAP)));
    assert_eq!(settings.to_string().len(), MODEL_SETTINGS_CAP);
    settings
}

fn over_cap() -> Value {
    let settings = wide_settings(&"b".repeat(note_len_for(MODEL_SETTINGS_CAP + 1)));
    assert_eq!(settings.to_string().len(), MODEL_SETTINGS_CAP + 1);
    settings
}

#[tokio::test]
async fn model_settings_of_64_kb_are_accepted_on_create_new_version_and_patch() {
    let api = start_with_wide_model().await;
    let created = ok(
        api.post(
            PROMPTS,
            &json!({ "name": "Wide", "promptText": PROMPT_TEXT, "modelSettings": at_cap() }),
        )
        .await,
        201,
    )
    .await;
    let (pid, vid) = (
        created["promptId"].as_str().unwrap(),
        created["currentVersionId"].as_str().unwrap(),
    );
    assert_eq!(api.version(pid, vid).await["modelSettings"], at_cap());
    let v = api
        .create_version(pid, json!({ "modelSettings": at_cap() }))
        .await;
    assert_eq!(v["modelSettings"], at_cap());
    let second = api.create_version(pid, json!({})).await;
    let v = ok(
        api.patch(
            &version_path(pid, second["id"].as_str().unwrap()),
            &json!({ "modelSettings": at_cap() }),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(v["modelSettings"], at_cap());
}

#[tokio::test]
async fn model_settings_over_64_kb_are_field_too_large_on_create_and_create_nothing() {
    let api = start_with_wide_model().await;
    let r = api
        .post(
            PROMPTS,
            &json!({ "name": "Too wide", "promptText": PROMPT_TEXT, "modelSettings": over_cap() }),
        )
        .await;
    too_large(r, "modelSettings").await;
    assert_eq!(api.prompt_ids().await, Vec::<String>::new());
}

#[tokio::test]
async fn model_settings_over_64_kb_are_field_too_large_on_new_version_and_add_none() {
    let api = start_with_wide_model().await;
    let created = api.create_prompt("Versions").await;
    let r = api
        .post(
            &versions_path(&created.prompt_id),
            &json!({ "promptText": PROMPT_TEXT, "modelSettings": over_cap() }),
        )
        .await;
    too_large(r, "modelSettings").await;
    assert_eq!(api.version_numbers(&created.prompt_id).await, vec![1]);
}

#[tokio::test]
async fn model_settings_over_64_kb_are_field_too_large_on_patch_and_change_nothing() {
    let api = start_with_wide_model().await;
    let created = api.create_prompt("Patch").await;
    let before = api.version(&created.prompt_id, &created.version_id).await;
    let r = api
        .patch(
            &version_path(&created.prompt_id, &created.version_id),
            &json!({ "modelSettings": over_cap(), "promptText": "changed" }),
        )
        .await;
    too_large(r, "modelSettings").await;
    assert_eq!(
        api.version(&created.prompt_id, &created.version_id).await,
        before
    );
}
