//! OpenAI-compatible Chat Completions (Ollama, vLLM, llama.cpp, OpenRouter…): `POST
//! {base_url}/chat/completions` with `stream: true` and usage requested in a final chunk. Content
//! deltas are re-framed as Responses-API `response.output_text.delta` frames; `data: [DONE]` ends
//! the stream.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;

use serde::de::{IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::json_detail;
use crate::relay::{Decode, Fault, Flow};
use crate::wire::{DataUrl, DeltaSynth, ExtraParams, Prepared};
use crate::{Event, LlmError, LlmRequest, Part, UpstreamClass};

/// Builds the request: instructions as a leading system message, parameters top-level as given
/// (these servers differ in what they accept, so no renaming).
pub(crate) fn prepare(req: &LlmRequest) -> Result<Prepared, LlmError> {
    let mut messages = Vec::with_capacity(req.input.len() + 1);
    if let Some(instructions) = req.instructions.as_deref() {
        messages.push(ChatMessage {
            role: "system",
            content: Content::Text(instructions),
        });
    }
    messages.extend(req.input.iter().map(|message| ChatMessage {
        role: message.role.as_str(),
        content: Content::from_parts(&message.parts),
    }));
    let body = Body {
        model: &req.model,
        messages,
        stream: true,
        stream_options: StreamOptions {
            include_usage: true,
        },
        rest: ExtraParams {
            map: &req.parameters,
            mapped: &[],
        },
    };
    let mut prepared = Prepared::new(&req.target, "/chat/completions", &body)?;
    if let Some(key) = &req.target.api_key {
        prepared.secret_header(reqwest::header::AUTHORIZATION, "Bearer ", key)?;
    }
    Ok(prepared)
}

#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    messages: Vec<ChatMessage<'a>>,
    stream: bool,
    stream_options: StreamOptions,
    #[serde(flatten)]
    rest: ExtraParams<'a>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
struct ChatMessage<'a> {
    role: &'static str,
    content: Content<'a>,
}

/// A plain string when the message is one text part (what every compatible server accepts),
/// else the array of typed parts.
#[derive(Serialize)]
#[serde(untagged)]
enum Content<'a> {
    Text(&'a str),
    Parts(Vec<ContentPart<'a>>),
}

impl<'a> Content<'a> {
    fn from_parts(parts: &'a [Part]) -> Self {
        if let [Part::Text(text)] = parts {
            return Content::Text(text);
        }
        Content::Parts(
            parts
                .iter()
                .map(|part| match part {
                    Part::Text(text) => ContentPart::Text { text },
                    Part::Image { mime_type, data } => ContentPart::ImageUrl {
                        image_url: ImageUrl {
                            url: DataUrl { mime_type, data },
                        },
                    },
                })
                .collect(),
        )
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ContentPart<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: ImageUrl<'a> },
}

#[derive(Serialize)]
struct ImageUrl<'a> {
    url: DataUrl<'a>,
}

/// Chunks → synthesized delta frames; the usage chunk is held until `[DONE]` so it is reported
/// once, at the end, like the other providers.
pub(crate) struct Decoder {
    synth: DeltaSynth,
    usage: Option<ChatUsage>,
    output_started: bool,
    finished: bool,
}

impl Decoder {
    pub fn new() -> Self {
        Self {
            synth: DeltaSynth::new(),
            usage: None,
            output_started: false,
            finished: false,
        }
    }

    fn push_usage(&mut self, out: &mut VecDeque<Event>) {
        if let Some(usage) = self.usage.take() {
            out.push_back(Event::Usage {
                input_tokens: usage.prompt_tokens,
                output_tokens: usage.completion_tokens,
            });
        }
    }
}

impl Decode for Decoder {
    fn frame(
        &mut self,
        _event: &str,
        data: &str,
        out: &mut VecDeque<Event>,
    ) -> Result<Flow, Fault> {
        if data.trim_end() == "[DONE]" {
            self.push_usage(out);
            return Ok(Flow::Done);
        }
        let chunk: Chunk = serde_json::from_str(data)
            .map_err(|err| Fault::Protocol(json_detail("chat completion chunk", &err)))?;
        // OpenRouter and some proxies report failures as a chunk with an `error` object.
        if let Some(error) = chunk.error {
            return Err(error.into_fault());
        }
        if let Some(id) = chunk.id.as_deref() {
            self.synth.set_item_id(id);
        }
        if let Some(choice) = chunk.choices.0 {
            if let Some(delta) = choice.delta {
                if delta.reasoning_content.is_some() || delta.reasoning.is_some() {
                    self.output_started = true;
                }
                if let Some(text) = delta.content.filter(|t| !t.is_empty()) {
                    self.output_started = true;
                    out.push_back(self.synth.delta(&text));
                }
            }
            if choice.finish_reason.is_some() {
                self.finished = true;
            }
        }
        if let Some(usage) = chunk.usage {
            self.usage = Some(usage);
        }
        Ok(Flow::Continue)
    }

    fn output_started(&self) -> bool {
        self.output_started
    }

    /// Some compatible servers close the body after the finishing chunk without `[DONE]`; a
    /// finish reason is completion enough.
    fn complete_at_eof(&mut self, out: &mut VecDeque<Event>) -> bool {
        if self.finished {
            self.push_usage(out);
        }
        self.finished
    }
}

#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    choices: FirstChoice<'a>,
    usage: Option<ChatUsage>,
    error: Option<ChatError>,
}

/// The first element of `choices` (Proem asks for one); the others are skipped unread, and no
/// `Vec` is allocated per chunk.
#[derive(Default)]
struct FirstChoice<'a>(Option<Choice<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for FirstChoice<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct First<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for First<'a> {
            type Value = FirstChoice<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of choices or null")
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(FirstChoice(None))
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(FirstChoice(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_seq(self)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let first = seq.next_element::<Choice<'a>>()?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FirstChoice(first))
            }
        }
        deserializer.deserialize_option(First(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(borrow)]
    delta: Option<ChoiceDelta<'a>>,
    finish_reason: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct ChoiceDelta<'a> {
    #[serde(borrow)]
    content: Option<Cow<'a, str>>,
    /// vLLM/DeepSeek and OpenRouter names for reasoning text: not relayed, but billed.
    reasoning_content: Option<IgnoredAny>,
    reasoning: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct ChatUsage {
    #[serde(default)]
    prompt_tokens: i64,
    #[serde(default)]
    completion_tokens: i64,
}

#[derive(Deserialize)]
struct ChatError {
    message: Option<String>,
    /// A string (`rate_limit_exceeded`) or an HTTP-like number (OpenRouter's 429, 502).
    code: Option<serde_json::Value>,
}

impl ChatError {
    fn into_fault(self) -> Fault {
        let class = match &self.code {
            Some(serde_json::Value::Number(n)) => match n.as_u64() {
                Some(429) => UpstreamClass::RateLimited,
                Some(400..=499) => UpstreamClass::Rejected,
                _ => UpstreamClass::Unavailable,
            },
            Some(serde_json::Value::String(code)) if code.contains("rate_limit") => {
                UpstreamClass::RateLimited
            }
            Some(serde_json::Value::String(code)) if code.starts_with("invalid") => {
                UpstreamClass::Rejected
            }
            _ => UpstreamClass::Unavailable,
        };
        Fault::Upstream {
            class,
            excerpt: crate::error::scrub(self.message.as_deref().unwrap_or_default(), None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(frames: &[&str]) -> (Vec<Event>, bool) {
        let mut decoder = Decoder::new();
        let mut out = VecDeque::new();
        let mut done = false;
        for data in frames {
            if let Ok(Flow::Done) = decoder.frame("message", data, &mut out) {
                done = true;
            }
        }
        (out.into_iter().collect(), done)
    }

    #[test]
    fn first_choice_only_and_null_choices_are_accepted() {
        let (events, done) = decode(&[
            r#"{"id":"c1","choices":[{"delta":{"content":"a"}},{"delta":{"content":"b"}}]}"#,
            r#"{"id":"c1","choices":null,"usage":{"prompt_tokens":3,"completion_tokens":1}}"#,
            "[DONE]",
        ]);
        assert!(done);
        assert!(matches!(&events[0], Event::Delta { text, .. } if text == "a"));
        assert_eq!(
            events[1],
            Event::Usage {
                input_tokens: 3,
                output_tokens: 1
            }
        );
        assert_eq!(events.len(), 2);
    }

    #[test]
    fn error_chunk_becomes_an_upstream_fault() {
        let mut decoder = Decoder::new();
        let mut out = VecDeque::new();
        let result = decoder.frame(
            "message",
            r#"{"error":{"message":"slow down","code":429}}"#,
            &mut out,
        );
        assert!(matches!(
            result,
            Err(Fault::Upstream {
                class: UpstreamClass::RateLimited,
                ..
            })
        ));
    }
}
