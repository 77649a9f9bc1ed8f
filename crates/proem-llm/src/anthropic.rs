//! Anthropic Messages API: `POST {base_url}/messages` with `stream: true`, `x-api-key` and
//! `anthropic-version`. Text deltas are re-framed as Responses-API `response.output_text.delta`
//! frames; `message_stop` ends the stream.

use std::borrow::Cow;
use std::collections::VecDeque;

use reqwest::header::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::error::json_detail;
use crate::relay::{Decode, Fault, Flow};
use crate::wire::{Base64, DeltaSynth, ExtraParams, Prepared, param};
use crate::{Event, LlmError, LlmRequest, Part, UpstreamClass};

const API_VERSION: &str = "2023-06-01";

/// The API requires `max_tokens`; this is used when the catalog gives none.
const DEFAULT_MAX_TOKENS: u32 = 4096;

/// Builds the request: instructions as `system`, `max_tokens` (or the Responses-style
/// `max_output_tokens`) with a default, other parameters top-level.
pub(crate) fn prepare(req: &LlmRequest) -> Result<Prepared, LlmError> {
    let params = &req.parameters;
    let max_tokens = param(params, "max_tokens").or(param(params, "max_output_tokens"));
    let body = Body {
        model: &req.model,
        system: req.instructions.as_deref(),
        messages: req
            .input
            .iter()
            .map(|message| AnthropicMessage {
                role: message.role.as_str(),
                content: message.parts.iter().map(Block::from).collect(),
            })
            .collect(),
        max_tokens: max_tokens.map_or(MaxTokens::Default(DEFAULT_MAX_TOKENS), MaxTokens::Given),
        stream: true,
        rest: ExtraParams {
            map: params,
            mapped: &["max_tokens", "max_output_tokens"],
        },
    };
    let mut prepared = Prepared::new(&req.target, "/messages", &body)?;
    prepared.headers.insert(
        HeaderName::from_static("anthropic-version"),
        HeaderValue::from_static(API_VERSION),
    );
    if let Some(key) = &req.target.api_key {
        prepared.secret_header(HeaderName::from_static("x-api-key"), "", key)?;
    }
    Ok(prepared)
}

#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<&'a str>,
    messages: Vec<AnthropicMessage<'a>>,
    max_tokens: MaxTokens<'a>,
    stream: bool,
    #[serde(flatten)]
    rest: ExtraParams<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum MaxTokens<'a> {
    Given(&'a serde_json::Value),
    Default(u32),
}

#[derive(Serialize)]
struct AnthropicMessage<'a> {
    role: &'static str,
    content: Vec<Block<'a>>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Text { text: &'a str },
    Image { source: ImageSource<'a> },
}

impl<'a> From<&'a Part> for Block<'a> {
    fn from(part: &'a Part) -> Self {
        match part {
            Part::Text(text) => Block::Text { text },
            Part::Image { mime_type, data } => Block::Image {
                source: ImageSource {
                    kind: "base64",
                    media_type: mime_type,
                    data: Base64(data),
                },
            },
        }
    }
}

#[derive(Serialize)]
struct ImageSource<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    media_type: &'a str,
    data: Base64<'a>,
}

/// Events → synthesized delta frames; usage is gathered from `message_start` (input) and
/// `message_delta` (output, cumulative) and reported at `message_stop`.
pub(crate) struct Decoder {
    synth: DeltaSynth,
    input_tokens: i64,
    output_tokens: i64,
    output_started: bool,
}

impl Decoder {
    pub fn new() -> Self {
        Self {
            synth: DeltaSynth::new(),
            input_tokens: 0,
            output_tokens: 0,
            output_started: false,
        }
    }

    fn add_usage(&mut self, usage: Option<Usage>) {
        let Some(usage) = usage else { return };
        // Cache reads and writes are input the call was billed for; Proem sends no cache
        // markers, so they are normally zero.
        let input = usage.input_tokens.unwrap_or(0)
            + usage.cache_creation_input_tokens.unwrap_or(0)
            + usage.cache_read_input_tokens.unwrap_or(0);
        // Counts are cumulative: keep the largest seen.
        self.input_tokens = self.input_tokens.max(input);
        self.output_tokens = self.output_tokens.max(usage.output_tokens.unwrap_or(0));
    }
}

impl Decode for Decoder {
    fn frame(&mut self, event: &str, data: &str, out: &mut VecDeque<Event>) -> Result<Flow, Fault> {
        let protocol = |err: serde_json::Error| Fault::Protocol(json_detail(event, &err));
        // Anthropic names every frame in `event:`; the payload's `type` says the same.
        let kind: Cow<str> = if event == "message" {
            match serde_json::from_str::<TypeOnly>(data)
                .map_err(protocol)?
                .kind
            {
                Some(kind) => kind,
                None => return Ok(Flow::Continue),
            }
        } else {
            Cow::Borrowed(event)
        };
        match kind.as_ref() {
            "message_start" => {
                let start: MessageStart = serde_json::from_str(data).map_err(protocol)?;
                if let Some(message) = start.message {
                    if let Some(id) = message.id.as_deref() {
                        self.synth.set_item_id(id);
                    }
                    self.add_usage(message.usage);
                }
            }
            "content_block_start" => {
                let start: BlockStart = serde_json::from_str(data).map_err(protocol)?;
                // Any block (text, thinking, tool use) is output being generated.
                self.output_started = true;
                if let Some(text) = start.content_block.and_then(|b| b.text)
                    && !text.is_empty()
                {
                    out.push_back(self.synth.delta(&text));
                }
            }
            "content_block_delta" => {
                let delta: BlockDelta = serde_json::from_str(data).map_err(protocol)?;
                self.output_started = true;
                // Thinking, signature and tool-input deltas are not output text.
                if delta.delta.kind == "text_delta"
                    && let Some(text) = delta.delta.text.filter(|t| !t.is_empty())
                {
                    out.push_back(self.synth.delta(&text));
                }
            }
            "message_delta" => {
                let delta: MessageDelta = serde_json::from_str(data).map_err(protocol)?;
                self.add_usage(delta.usage);
            }
            "message_stop" => {
                out.push_back(Event::Usage {
                    input_tokens: self.input_tokens,
                    output_tokens: self.output_tokens,
                });
                return Ok(Flow::Done);
            }
            "error" => {
                let error: ErrorEvent = serde_json::from_str(data).map_err(protocol)?;
                return Err(error.error.unwrap_or_default().into_fault());
            }
            // ping, content_block_stop, and event types added later.
            _ => {}
        }
        Ok(Flow::Continue)
    }

    fn output_started(&self) -> bool {
        self.output_started
    }
}

#[derive(Deserialize)]
struct TypeOnly<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct MessageStart {
    message: Option<MessageInfo>,
}

#[derive(Deserialize)]
struct MessageInfo {
    id: Option<String>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Usage {
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    cache_creation_input_tokens: Option<i64>,
    cache_read_input_tokens: Option<i64>,
}

#[derive(Deserialize)]
struct BlockStart<'a> {
    #[serde(borrow)]
    content_block: Option<ContentBlock<'a>>,
}

#[derive(Deserialize)]
struct ContentBlock<'a> {
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct BlockDelta<'a> {
    #[serde(borrow)]
    delta: DeltaBody<'a>,
}

#[derive(Deserialize)]
struct DeltaBody<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct MessageDelta {
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct ErrorEvent {
    error: Option<ErrorBody>,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(rename = "type")]
    kind: Option<String>,
    message: Option<String>,
}

impl ErrorBody {
    fn into_fault(self) -> Fault {
        let class = match self.kind.as_deref() {
            Some("rate_limit_error") => UpstreamClass::RateLimited,
            Some(
                "invalid_request_error"
                | "authentication_error"
                | "permission_error"
                | "not_found_error"
                | "request_too_large",
            ) => UpstreamClass::Rejected,
            // overloaded_error, api_error and anything new.
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

    #[test]
    fn thinking_is_billed_output_but_not_text() {
        let mut decoder = Decoder::new();
        let mut out = VecDeque::new();
        let frame = r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}"#;
        let flow = decoder.frame("content_block_delta", frame, &mut out);
        assert!(matches!(flow, Ok(Flow::Continue)));
        assert!(out.is_empty());
        assert!(decoder.output_started());
    }

    #[test]
    fn frames_without_event_names_are_read_by_type() {
        let mut decoder = Decoder::new();
        let mut out = VecDeque::new();
        for data in [
            r#"{"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":5,"cache_read_input_tokens":2}}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#,
            r#"{"type":"message_delta","usage":{"output_tokens":1}}"#,
        ] {
            assert!(matches!(
                decoder.frame("message", data, &mut out),
                Ok(Flow::Continue)
            ));
        }
        let done = decoder.frame("message", r#"{"type":"message_stop"}"#, &mut out);
        assert!(matches!(done, Ok(Flow::Done)));
        assert!(matches!(&out[0], Event::Delta { text, .. } if text == "Hi"));
        assert_eq!(
            out[1],
            Event::Usage {
                input_tokens: 7,
                output_tokens: 1
            }
        );
    }
}
