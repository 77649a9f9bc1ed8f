//! The describer: writes a version's one-sentence capability description with a configured
//! catalog model (spec v1.3: Auto mode regenerates it whenever promptText changes). Unset means
//! Auto descriptions stay as they are.

use std::sync::Arc;

use futures::StreamExt;
use futures::future::BoxFuture;
use proem_llm::{Event, LlmClient, LlmRequest, Message, Part, Role, Target};

use crate::catalog::Catalog;
use crate::engine::{Describer, Description};

const INSTRUCTIONS: &str = "You write the capability description of a prompt for an agent's tool list. \
     In one sentence of at most 30 words, say what the prompt does: what it expects as input and what it returns. \
     Reply with the sentence only.";

/// A [`Describer`] that calls a catalog model through the shared upstream client.
pub struct LlmDescriber {
    llm: LlmClient,
    target: Target,
    model: String,
    model_id: String,
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
            model_id: model_id.to_owned(),
        }))
    }
}

impl Describer for LlmDescriber {
    fn describe<'a>(&'a self, prompt_text: &'a str) -> BoxFuture<'a, Description> {
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
            let mut text = String::new();
            let mut usage = None;
            let mut failure = None;
            match self.llm.stream(request).await {
                Err(e) => failure = Some(e),
                Ok(mut stream) => {
                    while let Some(event) = stream.next().await {
                        match event {
                            Ok(Event::Delta { text: delta, .. }) => text.push_str(&delta),
                            Ok(Event::Usage {
                                input_tokens,
                                output_tokens,
                            }) => usage = Some((input_tokens, output_tokens)),
                            Ok(_) => {}
                            Err(e) => {
                                failure = Some(e);
                                break;
                            }
                        }
                    }
                }
            }
            // Without a usage report, four characters a token, as for runs.
            let (input_tokens, output_tokens) = usage.unwrap_or_else(|| {
                let sent = INSTRUCTIONS.len() + prompt_text.len();
                (
                    i64::try_from(sent / 4).unwrap_or(0),
                    i64::try_from(text.len() / 4).unwrap_or(0),
                )
            });
            let charged = failure.as_ref().is_none_or(proem_llm::LlmError::charged);
            let sentence = match failure {
                Some(e) => Err(e.message()),
                None if text.trim().is_empty() => Err("the describer returned no text".to_owned()),
                None => Ok(text.trim().to_owned()),
            };
            Description {
                sentence,
                model_id: self.model_id.clone(),
                input_tokens,
                output_tokens,
                charged,
            }
        })
    }
}
