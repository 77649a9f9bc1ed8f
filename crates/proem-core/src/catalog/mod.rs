//! The model catalog: providers and models from the TOML config plus a built-in list of current
//! OpenAI and Anthropic text models, enabled when their API key variable is set. Every model gets
//! an opaque, stable `model_id` (a slug of its wire name and a short hash of provider and name) and
//! a parameter schema that model settings are validated against (spec "Catalog stability").

mod builtin;
mod settings;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::secret::SecretRef;

use proem_api::models::{Capabilities, Costs, ModelEntry, ModelsResponse, RecommendedDefaults};
pub use proem_api::models::{ParamKind, ParamSpec};
pub use proem_llm::ProviderKind;
pub use settings::{ModelSettings, validate_model_settings};

/// `[providers.<name>]` in the config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    pub base_url: String,
    /// A secret reference such as `env::OPENAI_API_KEY`; local servers may need none.
    #[serde(default)]
    pub api_key: Option<SecretRef>,
    #[serde(default)]
    pub models: Vec<ModelConfig>,
}

/// One model of a provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The provider's name for it, sent upstream (e.g. `gpt-5.4-nano`, `llama3.2`).
    pub name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub family: Option<String>,
    #[serde(default = "text_only")]
    pub input_modalities: Vec<String>,
    #[serde(default = "text_only")]
    pub output_modalities: Vec<String>,
    /// Price per million input tokens, in millicents (1 USD = 100,000 millicents).
    #[serde(default)]
    pub input_millicents_per_mtok: i64,
    /// Price per million output tokens, in millicents.
    #[serde(default)]
    pub output_millicents_per_mtok: i64,
    #[serde(default)]
    pub parameters: BTreeMap<String, ParamSpec>,
    /// Parameter values suggested for new prompts.
    #[serde(default)]
    pub recommended: BTreeMap<String, serde_json::Value>,
    /// Retired models leave the catalog; prompts that use them fail with invalid_model_settings.
    #[serde(default)]
    pub retired: bool,
}

fn text_only() -> Vec<String> {
    vec!["text".to_owned()]
}

/// A model as the catalog lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub model_id: String,
    pub provider: String,
    pub kind: ProviderKind,
    pub config: ModelConfig,
}

impl Model {
    pub fn display_name(&self) -> &str {
        self.config
            .display_name
            .as_deref()
            .unwrap_or(&self.config.name)
    }

    pub fn family(&self) -> &str {
        self.config.family.as_deref().unwrap_or(&self.provider)
    }

    /// `image` when the model produces images, else `text`.
    pub fn output_modality(&self) -> &'static str {
        if self.config.output_modalities.iter().any(|m| m == "image") {
            "image"
        } else {
            "text"
        }
    }

    pub fn accepts_images(&self) -> bool {
        self.config.input_modalities.iter().any(|m| m == "image")
    }

    /// Cost in millicents of a call with these token counts, rounded up.
    pub fn cost_millicents(&self, input_tokens: i64, output_tokens: i64) -> i64 {
        let total = i128::from(input_tokens) * i128::from(self.config.input_millicents_per_mtok)
            + i128::from(output_tokens) * i128::from(self.config.output_millicents_per_mtok);
        i64::try_from((total + 999_999) / 1_000_000).unwrap_or(i64::MAX)
    }
}

/// The stable id of `name` at `provider`: `gpt-5.4-nano` at `openai` → `gpt54nano_` + 8 hex.
pub fn model_id(provider: &str, name: &str) -> String {
    let slug: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .take(24)
        .collect();
    let digest = Sha256::digest(format!("{provider}/{name}").as_bytes());
    format!("{slug}_{}", &crate::keys::hex(&digest)[..8])
}

/// The live catalog: every non-retired model of every configured provider.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub providers: BTreeMap<String, ProviderConfig>,
    models: Vec<Model>,
    /// The model suggested for new prompts.
    pub recommended: Option<String>,
}

impl Catalog {
    /// Builds the catalog from configured providers, adding the built-in OpenAI and Anthropic
    /// providers when their key variables are set and no provider of that name is configured.
    pub fn new(
        configured: &BTreeMap<String, ProviderConfig>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Self {
        let mut providers = configured.clone();
        for (name, provider) in builtin::providers(env) {
            providers.entry(name).or_insert(provider);
        }
        let mut models = Vec::new();
        for (provider, config) in &providers {
            for m in config.models.iter().filter(|m| !m.retired) {
                models.push(Model {
                    model_id: model_id(provider, &m.name),
                    provider: provider.clone(),
                    kind: config.kind,
                    config: m.clone(),
                });
            }
        }
        let recommended = models
            .iter()
            .find(|m| !m.config.recommended.is_empty())
            .or_else(|| models.first())
            .map(|m| m.model_id.clone());
        Self {
            providers,
            models,
            recommended,
        }
    }

    pub fn models(&self) -> &[Model] {
        &self.models
    }

    pub fn model(&self, model_id: &str) -> Option<&Model> {
        self.models.iter().find(|m| m.model_id == model_id)
    }

    /// The catalog as `GET /models` returns it.
    pub fn to_wire(&self) -> ModelsResponse {
        let entries: Vec<ModelEntry> = self.models.iter().map(Model::to_wire).collect();
        let recommended_defaults = self
            .recommended
            .as_deref()
            .and_then(|id| entries.iter().find(|e| e.model_id == id))
            .map(|e| e.recommended_defaults.clone());
        ModelsResponse {
            models: entries,
            recommended_defaults,
        }
    }
}

impl Model {
    fn to_wire(&self) -> ModelEntry {
        let c = &self.config;
        ModelEntry {
            model_id: self.model_id.clone(),
            display_name: self.display_name().to_owned(),
            family: self.family().to_owned(),
            provider: self.provider.clone(),
            input_modalities: c.input_modalities.clone(),
            output_modalities: c.output_modalities.clone(),
            supported_output_modalities: c.output_modalities.clone(),
            capabilities: Capabilities {
                input_image: self.accepts_images(),
                output_image: self.output_modality() == "image",
                streaming: true,
            },
            parameters: c.parameters.clone(),
            costs: Costs {
                input_millicents_per_mtok: c.input_millicents_per_mtok,
                output_millicents_per_mtok: c.output_millicents_per_mtok,
            },
            recommended_defaults: RecommendedDefaults {
                model_id: self.model_id.clone(),
                parameters: c.recommended.clone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids_are_a_slug_and_a_stable_hash() {
        let id = model_id("openai", "gpt-5.4-nano");
        assert!(id.starts_with("gpt54nano_"), "{id}");
        assert_eq!(id.len(), "gpt54nano_".len() + 8);
        assert_eq!(id, model_id("openai", "gpt-5.4-nano"));
        assert_ne!(id, model_id("openrouter", "gpt-5.4-nano"));
    }

    #[test]
    fn built_in_openai_models_appear_only_with_the_key_variable() {
        let none = Catalog::new(&BTreeMap::new(), &|_| None);
        assert!(none.models().is_empty());
        let with_key = Catalog::new(&BTreeMap::new(), &|v| {
            (v == "OPENAI_API_KEY").then(|| "sk-test".to_owned())
        });
        assert!(!with_key.models().is_empty());
        assert!(with_key.models().iter().all(|m| m.provider == "openai"));
        assert!(with_key.recommended.is_some());
    }

    #[test]
    fn base_url_variable_points_the_built_in_provider_elsewhere() {
        let catalog = Catalog::new(&BTreeMap::new(), &|v| match v {
            "OPENAI_API_KEY" => Some("sk".into()),
            "OPENAI_BASE_URL" => Some("http://127.0.0.1:9/v1".into()),
            _ => None,
        });
        assert_eq!(
            catalog.providers["openai"].base_url,
            "http://127.0.0.1:9/v1"
        );
    }

    #[test]
    fn retired_models_leave_the_catalog() {
        let mut providers = BTreeMap::new();
        let model = |name: &str, retired| ModelConfig {
            name: name.into(),
            display_name: None,
            family: None,
            input_modalities: text_only(),
            output_modalities: text_only(),
            input_millicents_per_mtok: 0,
            output_millicents_per_mtok: 0,
            parameters: BTreeMap::new(),
            recommended: BTreeMap::new(),
            retired,
        };
        providers.insert(
            "local".to_owned(),
            ProviderConfig {
                kind: ProviderKind::OpenaiChat,
                base_url: "http://127.0.0.1:11434/v1".into(),
                api_key: None,
                models: vec![model("llama3", false), model("old", true)],
            },
        );
        let catalog = Catalog::new(&providers, &|_| None);
        assert_eq!(catalog.models().len(), 1);
        assert!(catalog.model(&model_id("local", "old")).is_none());
    }

    #[test]
    fn cost_rounds_up_to_whole_millicents() {
        let catalog = Catalog::new(&BTreeMap::new(), &|v| {
            (v == "OPENAI_API_KEY").then(|| "k".into())
        });
        let m = &catalog.models()[0];
        assert_eq!(m.cost_millicents(0, 0), 0);
        assert!(m.cost_millicents(1, 0) >= 1);
    }
}
