//! The describer: writes a version's one-sentence capability description with a configured
//! catalog model (spec v1.3: Auto mode regenerates it whenever promptText changes). Unset means
//! Auto descriptions stay as they are.

use std::sync::Arc;

use futures::StreamExt;
use futures::future::BoxFuture;
use proem_llm::{Event, LlmClient, LlmRequest, Message, Part, Role, Target};

use crate::catalog::Catalog;
use crate::engine::Describer;

const INSTRUCTIONS: &str = "You write the capability description of a prompt for an agent's tool list. \
     In one sentence of at most 30 words, say what the prompt does: what it expects as input and what it returns. \
     Reply with the sentence only.";

/// A [`Describer`] that calls a catalog model through the shared upstream client.
pub struct LlmDescriber {
    llm: LlmClient,
    target: Target,
    model: String,
}

impl LlmDescriber {
    /// The describer for `model_id`, or an error naming what is missing.
    pub fn for_model(
        catalog: &Catalog,
        llm: LlmClient,
        model_id: &str,
    ) -> Result<Arc<dyn Describer>, String> {
        let model = catalog.model(model_id).ok_or_else(|| {
            format!(
                "describer model `{model_id}` is not in the catalog (see GET /api/v2/public/models)"
            )
        })?;
        let provider = catalog
            .providers
            .get(&model.provider)
            .ok_or_else(|| format!("provider {} is not configured", model.provider))?;
        let api_key = provider.api_key.as_ref().map(|r| r.resolve()).transpose()?;
        Ok(Arc::new(Self {
            llm,
            target: Target {
                kind: model.kind,
                base_url: provider.base_url.clone(),
                api_key,
            },
            model: model.config.name.clone(),
        }))
    }
}

impl Describer for LlmDescriber {
    fn describe<'a>(&'a self, prompt_text: &'a str) -> BoxFuture<'a, Result<String, String>> {
        Box::pin(async move {
            let request = LlmRequest {
                target: self.target.clone(),
                model: self.model.clone(),
                instructions: Some(INSTRUCTIONS.to_owned()),
                input: vec![Message {
                    role: Role::User,
                    parts: vec![Part::Text(prompt_text.to_owned())],
                }],
                parameters: serde_json::Map::new(),
                generate_images: false,
            };
            let mut stream = self.llm.stream(request).await.map_err(|e| e.message())?;
            let mut text = String::new();
            while let Some(event) = stream.next().await {
                if let Event::Delta { text: delta, .. } = event.map_err(|e| e.message())? {
                    text.push_str(&delta);
                }
            }
            let sentence = text.trim();
            if sentence.is_empty() {
                return Err("the describer returned no text".to_owned());
            }
            Ok(sentence.to_owned())
        })
    }
}
