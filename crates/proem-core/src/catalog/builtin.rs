//! The built-in catalog: current OpenAI and Anthropic text models, switched on by their API key
//! variable (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`) and pointed elsewhere by `OPENAI_BASE_URL` /
//! `ANTHROPIC_BASE_URL`. Prices are list prices when this table was written; override them by
//! configuring `[providers.openai]` or `[providers.anthropic]` yourself.

use std::collections::BTreeMap;

use serde_json::json;

use super::{ModelConfig, ParamKind, ParamSpec, ProviderConfig, ProviderKind};
use crate::secret::SecretRef;

pub fn providers(env: &dyn Fn(&str) -> Option<String>) -> Vec<(String, ProviderConfig)> {
    let mut out = Vec::new();
    if env("OPENAI_API_KEY").is_some() {
        out.push((
            "openai".to_owned(),
            ProviderConfig {
                kind: ProviderKind::Openai,
                base_url: env("OPENAI_BASE_URL")
                    .unwrap_or_else(|| "https://api.openai.com/v1".to_owned()),
                api_key: Some(SecretRef::new("env::OPENAI_API_KEY")),
                models: openai_models(),
            },
        ));
    }
    if env("ANTHROPIC_API_KEY").is_some() {
        out.push((
            "anthropic".to_owned(),
            ProviderConfig {
                kind: ProviderKind::Anthropic,
                base_url: env("ANTHROPIC_BASE_URL")
                    .unwrap_or_else(|| "https://api.anthropic.com/v1".to_owned()),
                api_key: Some(SecretRef::new("env::ANTHROPIC_API_KEY")),
                models: anthropic_models(),
            },
        ));
    }
    out
}

fn enumeration(values: &[&str], default: &str) -> ParamSpec {
    ParamSpec {
        kind: ParamKind::Enum,
        values: values.iter().map(|v| (*v).to_owned()).collect(),
        min: None,
        max: None,
        provider_default: Some(json!(default)),
    }
}

fn range(kind: ParamKind, min: f64, max: f64, default: serde_json::Value) -> ParamSpec {
    ParamSpec {
        kind,
        values: Vec::new(),
        min: Some(min),
        max: Some(max),
        provider_default: Some(default),
    }
}

fn model(
    name: &str,
    display: &str,
    family: &str,
    prices: (i64, i64),
    parameters: BTreeMap<String, ParamSpec>,
    recommended: &[(&str, serde_json::Value)],
) -> ModelConfig {
    ModelConfig {
        name: name.to_owned(),
        display_name: Some(display.to_owned()),
        family: Some(family.to_owned()),
        input_modalities: vec!["text".to_owned(), "image".to_owned()],
        output_modalities: vec!["text".to_owned()],
        input_millicents_per_mtok: prices.0,
        output_millicents_per_mtok: prices.1,
        parameters,
        recommended: recommended
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
        retired: false,
    }
}

fn openai_parameters() -> BTreeMap<String, ParamSpec> {
    BTreeMap::from([
        (
            "reasoning_effort".to_owned(),
            enumeration(&["none", "low", "medium", "high", "xhigh"], "medium"),
        ),
        (
            "verbosity".to_owned(),
            enumeration(&["low", "medium", "high"], "medium"),
        ),
        (
            "max_output_tokens".to_owned(),
            range(ParamKind::Integer, 16.0, 128_000.0, json!(null)),
        ),
    ])
}

fn openai_models() -> Vec<ModelConfig> {
    vec![
        model(
            "gpt-5.5",
            "GPT-5.5",
            "gpt-5",
            (125_000, 1_000_000),
            openai_parameters(),
            &[("reasoning_effort", json!("medium"))],
        ),
        model(
            "gpt-5.4-mini",
            "GPT-5.4 mini",
            "gpt-5",
            (25_000, 200_000),
            openai_parameters(),
            &[],
        ),
        model(
            "gpt-5.4-nano",
            "GPT-5.4 nano",
            "gpt-5",
            (5_000, 40_000),
            openai_parameters(),
            &[],
        ),
    ]
}

fn anthropic_parameters() -> BTreeMap<String, ParamSpec> {
    BTreeMap::from([
        (
            "max_tokens".to_owned(),
            range(ParamKind::Integer, 1.0, 64_000.0, json!(4096)),
        ),
        (
            "temperature".to_owned(),
            range(ParamKind::Number, 0.0, 1.0, json!(1.0)),
        ),
    ])
}

fn anthropic_models() -> Vec<ModelConfig> {
    vec![
        model(
            "claude-opus-4-7",
            "Claude Opus 4.7",
            "claude",
            (500_000, 2_500_000),
            anthropic_parameters(),
            &[("max_tokens", json!(4096))],
        ),
        model(
            "claude-sonnet-4-6",
            "Claude Sonnet 4.6",
            "claude",
            (300_000, 1_500_000),
            anthropic_parameters(),
            &[],
        ),
        model(
            "claude-haiku-4-5",
            "Claude Haiku 4.5",
            "claude",
            (100_000, 500_000),
            anthropic_parameters(),
            &[],
        ),
    ]
}
