//! Catalog enforcement at write time: POST /prompts, POST /versions and PATCH version refuse
//! model settings the catalog does not accept with `400 invalid_model_settings`, naming each field
//! in `invalid_params` and pointing at GET /models; a refused write changes nothing.

use proem_testkit::{TEST_PROVIDER, test_model_id};
use serde_json::{Value, json};

use super::authoring::{
    Api, PROMPT_TEXT, PROMPTS, invalid_params, ok, param, version_path, versions_path,
};
use super::support::expect_problem;

/// Posts a new prompt with `settings`; expects `invalid_model_settings`, checks that no prompt
/// appeared, and returns the named fields.
async fn create_is_refused(api: &Api, settings: Value) -> Vec<(String, String)> {
    let before = api.prompt_ids().await;
    let r = api
        .post(
            PROMPTS,
            &json!({ "name": "Refused", "promptText": PROMPT_TEXT, "modelSettings": settings }),
        )
        .await;
    let problem = expect_problem(r, 400, "invalid_model_settings").await;
    assert!(
        problem["action_hint"]
            .as_str()
            .unwrap()
            .contains("GET /api/v2/public/models"),
        "{problem}"
    );
    assert_eq!(api.prompt_ids().await, before);
    invalid_params(&problem)
}

#[tokio::test]
async fn unknown_model_id_is_invalid_model_settings_naming_model_id() {
    let api = Api::start().await;
    let named = create_is_refused(
        &api,
        json!({ "model_id": "gpt55_8e2b1d4f", "parameters": {} }),
    )
    .await;
    assert_eq!(
        named,
        vec![param("modelSettings.model_id", "unknown_or_inactive_model")]
    );
}

#[tokio::test]
async fn wire_name_instead_of_model_id_is_unknown_or_inactive_model() {
    let api = Api::start().await;
    let named = create_is_refused(
        &api,
        json!({ "model_id": proem_testkit::TEST_MODEL, "parameters": {} }),
    )
    .await;
    assert_eq!(
        named,
        vec![param("modelSettings.model_id", "unknown_or_inactive_model")]
    );
}

#[tokio::test]
async fn missing_model_id_is_unknown_or_inactive_model() {
    let api = Api::start().await;
    let named = create_is_refused(&api, json!({ "parameters": {} })).await;
    assert_eq!(
        named,
        vec![param("modelSettings.model_id", "unknown_or_inactive_model")]
    );
}

#[tokio::test]
async fn retired_model_id_is_invalid_model_settings_naming_model_id() {
    let api = Api::start_with(|c| {
        let provider = c.providers.get_mut(TEST_PROVIDER).unwrap();
        let mut old = provider.models[0].clone();
        old.name = "old-model".to_owned();
        old.retired = true;
        provider.models.push(old);
    })
    .await;
    let retired = proem_core::catalog::model_id(TEST_PROVIDER, "old-model");
    let named = create_is_refused(&api, json!({ "model_id": retired, "parameters": {} })).await;
    assert_eq!(
        named,
        vec![param("modelSettings.model_id", "unknown_or_inactive_model")]
    );
}

#[tokio::test]
async fn missing_parameters_is_invalid_model_settings_naming_parameters() {
    let api = Api::start().await;
    let named = create_is_refused(&api, json!({ "model_id": test_model_id() })).await;
    assert_eq!(named, vec![param("modelSettings.parameters", "required")]);
}

#[tokio::test]
async fn parameters_that_are_not_an_object_are_required() {
    let api = Api::start().await;
    let named = create_is_refused(
        &api,
        json!({ "model_id": test_model_id(), "parameters": ["style"] }),
    )
    .await;
    assert_eq!(named, vec![param("modelSettings.parameters", "required")]);
}

#[tokio::test]
async fn model_settings_that_are_not_an_object_are_invalid_type() {
    let api = Api::start().await;
    let named = create_is_refused(&api, json!(test_model_id())).await;
    assert_eq!(named, vec![param("modelSettings", "invalid_type")]);
}

#[tokio::test]
async fn parameter_beside_model_id_instead_of_inside_parameters_is_unknown_field() {
    let api = Api::start().await;
    let named = create_is_refused(
        &api,
        json!({ "model_id": test_model_id(), "parameters": {}, "style": "fancy" }),
    )
    .await;
    assert_eq!(named, vec![param("modelSettings.style", "unknown_field")]);
}

#[tokio::test]
async fn value_outside_the_enum_is_not_in_enum() {
    let api = Api::start().await;
    let named = create_is_refused(&api, api.settings_with(json!({ "style": "xtreme" }))).await;
    assert_eq!(
        named,
        vec![param("modelSettings.parameters.style", "not_in_enum")]
    );
}

#[tokio::test]
async fn integer_below_min_or_above_max_is_out_of_range() {
    let api = Api::start().await;
    for value in [0, 4097] {
        let named =
            create_is_refused(&api, api.settings_with(json!({ "max_tokens": value }))).await;
        assert_eq!(
            named,
            vec![param("modelSettings.parameters.max_tokens", "out_of_range")],
            "{value}"
        );
    }
}

#[tokio::test]
async fn number_below_min_or_above_max_is_out_of_range() {
    let api = Api::start().await;
    for value in [-0.1, 2.01] {
        let named =
            create_is_refused(&api, api.settings_with(json!({ "temperature": value }))).await;
        assert_eq!(
            named,
            vec![param(
                "modelSettings.parameters.temperature",
                "out_of_range"
            )],
            "{value}"
        );
    }
}

#[tokio::test]
async fn value_of_the_wrong_type_is_invalid_type() {
    let api = Api::start().await;
    for (name, value) in [
        ("style", json!(1)),
        ("max_tokens", json!(1.5)),
        ("max_tokens", json!("64")),
        ("temperature", json!("0.5")),
        ("stream_usage", json!("yes")),
    ] {
        let named = create_is_refused(&api, api.settings_with(json!({ name: value }))).await;
        assert_eq!(
            named,
            vec![param(
                &format!("modelSettings.parameters.{name}"),
                "invalid_type"
            )],
            "{name} = {value}"
        );
    }
}

#[tokio::test]
async fn parameter_the_model_does_not_have_is_unknown_parameter() {
    let api = Api::start().await;
    let named = create_is_refused(&api, api.settings_with(json!({ "seed": 7 }))).await;
    assert_eq!(
        named,
        vec![param("modelSettings.parameters.seed", "unknown_parameter")]
    );
}

#[tokio::test]
async fn every_bad_parameter_is_named_in_one_problem() {
    let api = Api::start().await;
    let mut named = create_is_refused(
        &api,
        api.settings_with(json!({
            "style": "xtreme", "max_tokens": 0, "temperature": 3, "stream_usage": 1, "seed": 7
        })),
    )
    .await;
    named.sort();
    assert_eq!(
        named,
        vec![
            param("modelSettings.parameters.max_tokens", "out_of_range"),
            param("modelSettings.parameters.seed", "unknown_parameter"),
            param("modelSettings.parameters.stream_usage", "invalid_type"),
            param("modelSettings.parameters.style", "not_in_enum"),
            param("modelSettings.parameters.temperature", "out_of_range"),
        ]
    );
}

#[tokio::test]
async fn values_at_the_schema_bounds_are_accepted() {
    let api = Api::start().await;
    for parameters in [
        json!({ "style": "plain", "max_tokens": 1, "temperature": 0, "stream_usage": false }),
        json!({ "style": "fancy", "max_tokens": 4096, "temperature": 2.0, "stream_usage": true }),
    ] {
        let settings = api.settings_with(parameters);
        let created = ok(
            api.post(
                PROMPTS,
                &json!({ "name": "Bounds", "promptText": PROMPT_TEXT, "modelSettings": settings }),
            )
            .await,
            201,
        )
        .await;
        let version = api
            .version(
                created["promptId"].as_str().unwrap(),
                created["currentVersionId"].as_str().unwrap(),
            )
            .await;
        assert_eq!(version["modelSettings"], settings);
    }
}

#[tokio::test]
async fn create_version_with_invalid_model_settings_is_refused_and_adds_no_version() {
    let api = Api::start().await;
    let prompt = api.create_prompt("Versions").await;
    let r = api
        .post(
            &versions_path(&prompt.prompt_id),
            &json!({ "promptText": PROMPT_TEXT, "setAsCurrent": true,
                     "modelSettings": api.settings_with(json!({ "style": "xtreme" })) }),
        )
        .await;
    let problem = expect_problem(r, 400, "invalid_model_settings").await;
    assert_eq!(
        invalid_params(&problem),
        vec![param("modelSettings.parameters.style", "not_in_enum")]
    );
    assert_eq!(api.version_numbers(&prompt.prompt_id).await, vec![1]);
    assert_eq!(
        api.prompt(&prompt.prompt_id).await["currentVersionId"],
        prompt.version_id.as_str()
    );
}

#[tokio::test]
async fn patch_version_with_invalid_model_settings_is_refused_and_changes_nothing() {
    let api = Api::start().await;
    let prompt = api.create_prompt("Patch").await;
    let path = version_path(&prompt.prompt_id, &prompt.version_id);
    let before = api.version(&prompt.prompt_id, &prompt.version_id).await;
    for (settings, expected) in [
        (
            json!({ "model_id": "nope_00000000", "parameters": {} }),
            param("modelSettings.model_id", "unknown_or_inactive_model"),
        ),
        (
            json!({ "model_id": test_model_id() }),
            param("modelSettings.parameters", "required"),
        ),
        (
            api.settings_with(json!({ "temperature": 9 })),
            param("modelSettings.parameters.temperature", "out_of_range"),
        ),
    ] {
        // promptText in the same patch is not applied either.
        let r = api
            .patch(
                &path,
                &json!({ "promptText": "changed", "modelSettings": settings }),
            )
            .await;
        let problem = expect_problem(r, 400, "invalid_model_settings").await;
        assert_eq!(invalid_params(&problem), vec![expected]);
    }
    assert_eq!(
        api.version(&prompt.prompt_id, &prompt.version_id).await,
        before
    );
}
