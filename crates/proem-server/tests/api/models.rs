//! `GET /models`: the catalog an agent reads before writing `modelSettings` (spec "Catalog
//! stability"). Which built-in providers appear for which key variables is unit-tested in
//! `proem_core::catalog`, where the environment is injected.

use proem_testkit::{TEST_MODEL, TEST_PROVIDER, test_model_id};
use serde_json::{Value, json};

use super::authoring::{Api, MODELS, PROMPT_TEXT, PROMPTS, ok, version_path};

/// The test model as the catalog describes it.
fn test_model_entry() -> Value {
    let id = test_model_id();
    json!({
        "model_id": id,
        "display_name": "Fake model",
        "family": TEST_PROVIDER,
        "provider": TEST_PROVIDER,
        "input_modalities": ["text", "image"],
        "output_modalities": ["text"],
        "supportedOutputModalities": ["text"],
        "capabilities": { "input_image": true, "output_image": false, "streaming": true },
        "parameters": {
            "max_tokens": { "type": "integer", "min": 1.0, "max": 4096.0 },
            "stream_usage": { "type": "boolean" },
            "style": { "type": "enum", "values": ["plain", "fancy"], "provider_default": "plain" },
            "temperature": { "type": "number", "min": 0.0, "max": 2.0 },
        },
        "costs": { "input_millicents_per_mtok": 100_000, "output_millicents_per_mtok": 400_000 },
        "recommended_defaults": { "model_id": id, "parameters": { "style": "plain" } },
    })
}

#[tokio::test]
async fn models_lists_each_model_with_names_modalities_capabilities_parameters_and_costs() {
    let api = Api::start().await;
    let catalog = ok(api.get(MODELS).await, 200).await;
    assert_eq!(catalog["models"], json!([test_model_entry()]));
}

#[tokio::test]
async fn model_id_is_an_opaque_slug_plus_short_hash() {
    let api = Api::start().await;
    let catalog = ok(api.get(MODELS).await, 200).await;
    let id = catalog["models"][0]["model_id"].as_str().unwrap();
    let (slug, hash) = id.split_once('_').unwrap();
    assert_eq!(slug, "fakemodel");
    assert_eq!(hash.len(), 8);
    assert!(
        hash.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert_ne!(id, TEST_MODEL, "the wire name is not the catalog id");
}

#[tokio::test]
async fn model_id_is_stable_across_server_starts() {
    let first = Api::start().await;
    let second = Api::start().await;
    let a = ok(first.get(MODELS).await, 200).await;
    let b = ok(second.get(MODELS).await, 200).await;
    assert_eq!(a["models"][0]["model_id"], b["models"][0]["model_id"]);
    assert_eq!(a["models"][0]["model_id"], test_model_id().as_str());
}

#[tokio::test]
async fn models_response_carries_top_level_recommended_defaults_in_model_settings_shape() {
    let api = Api::start().await;
    let catalog = ok(api.get(MODELS).await, 200).await;
    assert_eq!(
        catalog["recommended_defaults"],
        json!({ "model_id": test_model_id(), "parameters": { "style": "plain" } })
    );
}

#[tokio::test]
async fn prompt_created_from_recommended_defaults_of_get_models_validates() {
    let api = Api::start().await;
    let catalog = ok(api.get(MODELS).await, 200).await;
    let defaults = catalog["recommended_defaults"].clone();
    let created = ok(
        api.post(
            PROMPTS,
            &json!({ "name": "From the catalog", "promptText": PROMPT_TEXT, "modelSettings": defaults }),
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
    assert_eq!(version["modelSettings"], defaults);
}

#[tokio::test]
async fn every_models_recommended_defaults_paste_into_a_new_version() {
    let api = Api::start().await;
    let prompt = api.create_prompt("Round trip").await;
    let catalog = ok(api.get(MODELS).await, 200).await;
    for model in catalog["models"].as_array().unwrap() {
        let defaults = &model["recommended_defaults"];
        let version = api
            .create_version(&prompt.prompt_id, json!({ "modelSettings": defaults }))
            .await;
        assert_eq!(&version["modelSettings"], defaults);
    }
}

#[tokio::test]
async fn parameter_values_read_from_the_schema_paste_into_model_settings() {
    let api = Api::start().await;
    let prompt = api.create_prompt("Schema values").await;
    let catalog = ok(api.get(MODELS).await, 200).await;
    let model = &catalog["models"][0];
    // Every enum value, every bound and every provider_default the catalog shows is writable.
    let mut candidates = Vec::new();
    for (name, spec) in model["parameters"].as_object().unwrap() {
        for value in spec["values"].as_array().into_iter().flatten() {
            candidates.push((name.clone(), value.clone()));
        }
        for bound in ["min", "max", "provider_default"] {
            if let Some(value) = spec.get(bound) {
                let value = match spec["type"].as_str() {
                    // Integer bounds come as JSON numbers such as 1.0; write them as integers.
                    Some("integer") => json!(value.as_f64().unwrap() as i64),
                    _ => value.clone(),
                };
                candidates.push((name.clone(), value));
            }
        }
    }
    assert_eq!(candidates.len(), 7, "{candidates:?}");
    let path = version_path(&prompt.prompt_id, &prompt.version_id);
    for (name, value) in candidates {
        let settings =
            json!({ "model_id": model["model_id"], "parameters": { name.clone(): value } });
        let version = ok(
            api.patch(&path, &json!({ "modelSettings": settings }))
                .await,
            200,
        )
        .await;
        assert_eq!(version["modelSettings"], settings, "{name}");
    }
}

#[tokio::test]
async fn retired_models_leave_the_catalog() {
    let api = Api::start_with(|c| {
        let provider = c.providers.get_mut(TEST_PROVIDER).unwrap();
        let mut old = provider.models[0].clone();
        old.name = "old-model".to_owned();
        old.retired = true;
        provider.models.push(old);
    })
    .await;
    let catalog = ok(api.get(MODELS).await, 200).await;
    assert_eq!(catalog["models"], json!([test_model_entry()]));
}

#[tokio::test]
async fn models_need_a_key_with_the_read_scope() {
    let api = Api::start().await;
    let (_, execute_only) = api.server.user_with_key(&["execute"]).await;
    let r = api
        .server
        .http
        .get(api.server.at(MODELS))
        .header("x-api-key", execute_only)
        .send()
        .await
        .unwrap();
    super::support::expect_problem(r, 403, "scope_required").await;
}
