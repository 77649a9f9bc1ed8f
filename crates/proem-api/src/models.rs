//! The model catalog as `GET /models` returns it (spec "Catalog stability"). Round-trippable: a
//! model's `model_id` and `recommended_defaults` paste straight into `modelSettings`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// The schema of one model parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    #[serde(rename = "type")]
    pub kind: ParamKind,
    /// Allowed values of an `enum` parameter.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// What the provider uses when the parameter is not sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_default: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParamKind {
    Enum,
    Integer,
    Number,
    Boolean,
}

/// `GET /models`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct ModelsResponse {
    pub models: Vec<ModelEntry>,
    /// Settings for the suggested model, ready to use as `modelSettings`.
    pub recommended_defaults: Option<RecommendedDefaults>,
}

/// `{ "model_id": …, "parameters": { … } }`, the shape `modelSettings` takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct RecommendedDefaults {
    pub model_id: String,
    pub parameters: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct ModelEntry {
    /// Opaque and stable, e.g. `gpt54nano_2c6f9b4d`.
    pub model_id: String,
    pub display_name: String,
    pub family: String,
    pub provider: String,
    pub input_modalities: Vec<String>,
    pub output_modalities: Vec<String>,
    /// The spec's name for `output_modalities`.
    #[serde(rename = "supportedOutputModalities")]
    pub supported_output_modalities: Vec<String>,
    pub capabilities: Capabilities,
    pub parameters: BTreeMap<String, ParamSpec>,
    pub costs: Costs,
    pub recommended_defaults: RecommendedDefaults,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct Capabilities {
    pub input_image: bool,
    pub output_image: bool,
    pub streaming: bool,
}

/// Prices in millicents per million tokens (1 USD = 100,000 millicents).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, JsonSchema)]
pub struct Costs {
    pub input_millicents_per_mtok: i64,
    pub output_millicents_per_mtok: i64,
}
