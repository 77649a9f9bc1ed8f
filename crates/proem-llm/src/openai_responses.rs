//! OpenAI Responses API: `POST {base_url}/responses` with `stream: true`. Its frames are already
//! the shape Proem relays, so they pass through verbatim (the `data` string as received, never
//! re-serialized); the decoder only reads the delta text, the usage and errors out of them.

use std::borrow::Cow;
use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::error::json_detail;
use crate::relay::{Decode, Fault, Flow};
use crate::wire::{DELTA_EVENT, DataUrl, ExtraParams, Prepared, param};
use crate::{Event, Frame, LlmError, LlmRequest, Part, Role, UpstreamClass};

/// Builds the request: catalog `reasoning_effort` → `reasoning.effort`, `verbosity` →
/// `text.verbosity`, `max_tokens` → `max_output_tokens` (the catalog's generic name), the rest
/// top-level.
pub(crate) fn prepare(req: &LlmRequest) -> Result<Prepared, LlmError> {
    let params = &req.parameters;
    let max_output_tokens = param(params, "max_output_tokens").or(param(params, "max_tokens"));
    let body = Body {
        model: &req.model,
        instructions: req.instructions.as_deref(),
        input: req.input.iter().map(InputMessage::from).collect(),
        stream: true,
        reasoning: param(params, "reasoning_effort").map(|effort| Reasoning { effort }),
        text: param(params, "verbosity").map(|verbosity| TextOptions { verbosity }),
        max_output_tokens,
        tools: if req.generate_images {
            vec![Tool {
                kind: "image_generation",
            }]
        } else {
            Vec::new()
        },
        rest: ExtraParams {
            map: params,
            mapped: &[
                "reasoning_effort",
                "verbosity",
                "max_output_tokens",
                "max_tokens",
            ],
        },
    };
    let mut prepared = Prepared::new(&req.target, "/responses", &body)?;
    if let Some(key) = &req.target.api_key {
        prepared.secret_header(reqwest::header::AUTHORIZATION, "Bearer ", key)?;
    }
    Ok(prepared)
}

#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    instructions: Option<&'a str>,
    input: Vec<InputMessage<'a>>,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning: Option<Reasoning<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<TextOptions<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<&'a serde_json::Value>,
    /// Offered, not forced: a revision that asks only for words may be answered in words.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<Tool>,
    #[serde(flatten)]
    rest: ExtraParams<'a>,
}

#[derive(Serialize)]
struct Tool {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct Reasoning<'a> {
    effort: &'a serde_json::Value,
}

#[derive(Serialize)]
struct TextOptions<'a> {
    verbosity: &'a serde_json::Value,
}

#[derive(Serialize)]
struct InputMessage<'a> {
    role: &'static str,
    content: Vec<InputContent<'a>>,
}

impl<'a> From<&'a crate::Message> for InputMessage<'a> {
    fn from(message: &'a crate::Message) -> Self {
        let content = message
            .parts
            .iter()
            .map(|part| match (part, message.role) {
                (Part::Text(text), Role::User) => InputContent::InputText { text },
                // Earlier model turns go back as the model's own output type; the API refuses
                // `input_text` on an assistant message.
                (Part::Text(text), Role::Assistant) => InputContent::OutputText { text },
                (Part::Image { mime_type, data }, _) => InputContent::InputImage {
                    image_url: DataUrl { mime_type, data },
                },
            })
            .collect();
        Self {
            role: message.role.as_str(),
            content,
        }
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum InputContent<'a> {
    InputText { text: &'a str },
    OutputText { text: &'a str },
    InputImage { image_url: DataUrl<'a> },
}

/// Relays `response.*` frames: deltas as [`Event::Delta`], the rest as [`Event::Passthrough`],
/// and the usage of `response.completed` (or `response.incomplete`) as [`Event::Usage`].
#[derive(Default)]
pub(crate) struct Decoder {
    output_started: bool,
}

impl Decode for Decoder {
    fn frame(&mut self, event: &str, data: &str, out: &mut VecDeque<Event>) -> Result<Flow, Fault> {
        // OpenAI names every frame in `event:`; servers that send bare `data:` frames still
        // carry the name in the payload's `type`.
        let named;
        let event = if event == "message" {
            match serde_json::from_str::<TypeOnly>(data) {
                Ok(TypeOnly { kind: Some(kind) }) => {
                    named = kind.into_owned();
                    named.as_str()
                }
                Ok(_) => return Ok(Flow::Continue),
                Err(err) => return Err(Fault::Protocol(json_detail("Responses API", &err))),
            }
        } else {
            event
        };
        // The relayed frame's own copy of the payload; a delta's name is static, so the frame
        // sent once per token allocates only its data.
        let relayed = |event: &str| Frame {
            event: match event {
                DELTA_EVENT => Cow::Borrowed(DELTA_EVENT),
                other => Cow::Owned(other.to_owned()),
            },
            data: data.to_owned(),
        };
        match event {
            DELTA_EVENT => {
                let parsed: TextDelta = serde_json::from_str(data)
                    .map_err(|err| Fault::Protocol(json_detail(event, &err)))?;
                let text = parsed.delta.into_owned();
                self.output_started = true;
                out.push_back(Event::Delta {
                    text,
                    frame: relayed(event),
                });
                Ok(Flow::Continue)
            }
            "response.completed" | "response.incomplete" => {
                let parsed: Terminal = serde_json::from_str(data)
                    .map_err(|err| Fault::Protocol(json_detail(event, &err)))?;
                let usage = parsed.response.and_then(|r| r.usage);
                out.push_back(Event::Passthrough(relayed(event)));
                if let Some(usage) = usage {
                    out.push_back(Event::Usage {
                        input_tokens: usage.input_tokens,
                        output_tokens: usage.output_tokens,
                    });
                }
                Ok(Flow::Done)
            }
            // Not relayed: the failure reaches clients as run_failed with a scrubbed message,
            // while the raw frame could carry anything the upstream chose to say.
            "response.failed" => {
                let parsed: Terminal = serde_json::from_str(data)
                    .map_err(|err| Fault::Protocol(json_detail(event, &err)))?;
                let error = parsed.response.and_then(|r| r.error).unwrap_or_default();
                Err(error.into_fault())
            }
            "error" => {
                let parsed: ErrorEvent = serde_json::from_str(data)
                    .map_err(|err| Fault::Protocol(json_detail(event, &err)))?;
                let error = parsed.error.unwrap_or(ErrorBody {
                    code: parsed.code,
                    message: parsed.message,
                });
                Err(error.into_fault())
            }
            "response.output_item.done" => {
                self.output_started = true;
                out.push_back(Event::Passthrough(relayed(event)));
                let parsed: ItemDone = serde_json::from_str(data)
                    .map_err(|err| Fault::Protocol(json_detail(event, &err)))?;
                if let Some(item) = parsed.item
                    && item.kind.as_deref() == Some("image_generation_call")
                    && let Some(base64) = item.result
                {
                    out.push_back(Event::Image { base64 });
                }
                Ok(Flow::Continue)
            }
            name if name.starts_with("response.") => {
                // Output items (reasoning included) and their deltas are tokens being produced:
                // from here on a failure is billed.
                if name.starts_with("response.output_item.") || name.ends_with(".delta") {
                    self.output_started = true;
                }
                out.push_back(Event::Passthrough(relayed(event)));
                Ok(Flow::Continue)
            }
            // Keep-alives and extensions of other servers are not part of the relayed protocol.
            _ => Ok(Flow::Continue),
        }
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

/// `response.output_item.done`: only an image call's result is read; other items' content is
/// skipped unread.
#[derive(Deserialize)]
struct ItemDone {
    item: Option<OutputItem>,
}

#[derive(Deserialize)]
struct OutputItem {
    #[serde(rename = "type")]
    kind: Option<String>,
    result: Option<String>,
}

#[derive(Deserialize)]
struct TextDelta<'a> {
    #[serde(borrow)]
    delta: Cow<'a, str>,
}

/// `response.completed`, `response.incomplete` and `response.failed`; the `response` object's
/// output and echoed settings are skipped unread.
#[derive(Deserialize)]
struct Terminal {
    response: Option<ResponseObject>,
}

#[derive(Deserialize)]
struct ResponseObject {
    usage: Option<Usage>,
    error: Option<ErrorBody>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    input_tokens: i64,
    #[serde(default)]
    output_tokens: i64,
}

/// The `error` frame: its fields top-level, or (newer servers) nested under `error`.
#[derive(Deserialize)]
struct ErrorEvent {
    code: Option<String>,
    message: Option<String>,
    error: Option<ErrorBody>,
}

#[derive(Deserialize, Default)]
struct ErrorBody {
    code: Option<String>,
    message: Option<String>,
}

impl ErrorBody {
    fn into_fault(self) -> Fault {
        let class = match self.code.as_deref() {
            Some("rate_limit_exceeded" | "insufficient_quota") => UpstreamClass::RateLimited,
            Some(code) if code.starts_with("invalid") || code.contains("policy") => {
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
    use crate::{Message, Target};

    #[test]
    fn body_maps_catalog_parameters() {
        let params = serde_json::json!({
            "reasoning_effort": "low", "verbosity": "high", "max_tokens": 300,
            "temperature": 0.2, "stream": false, "unset": null
        });
        let req = LlmRequest {
            target: Target {
                kind: crate::ProviderKind::Openai,
                base_url: "http://x/v1/".into(),
                api_key: Some("k".into()),
            },
            model: "m".into(),
            instructions: Some("be brief".into()),
            input: vec![Message {
                role: Role::Assistant,
                parts: vec![Part::Text("earlier".into())],
            }],
            parameters: params.as_object().cloned().unwrap(),
            generate_images: false,
        };
        let prepared = prepare(&req).unwrap();
        assert_eq!(prepared.url, "http://x/v1/responses");
        let body: serde_json::Value = serde_json::from_slice(&prepared.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "model": "m", "instructions": "be brief", "stream": true,
                "input": [{"role": "assistant", "content": [{"type": "output_text", "text": "earlier"}]}],
                "reasoning": {"effort": "low"}, "text": {"verbosity": "high"},
                "max_output_tokens": 300, "temperature": 0.2
            })
        );
    }

    #[test]
    fn data_only_frames_are_named_by_their_type() {
        let mut decoder = Decoder::default();
        let mut out = VecDeque::new();
        let data = r#"{"type":"response.output_text.delta","delta":"x"}"#;
        let flow = decoder.frame("message", data, &mut out);
        assert!(matches!(flow, Ok(Flow::Continue)));
        let Some(Event::Delta { text, frame }) = out.pop_front() else {
            panic!("no delta");
        };
        assert_eq!(text, "x");
        assert_eq!(frame.event, "response.output_text.delta");
        assert_eq!(frame.data, data);
    }

    #[test]
    fn failed_response_maps_its_error_code() {
        let mut decoder = Decoder::default();
        let mut out = VecDeque::new();
        let data = r#"{"type":"response.failed","response":{"error":{"code":"rate_limit_exceeded","message":"slow"}}}"#;
        let flow = decoder.frame("response.failed", data, &mut out);
        assert!(matches!(
            flow,
            Err(Fault::Upstream {
                class: UpstreamClass::RateLimited,
                ..
            })
        ));
        assert!(out.is_empty(), "a failure is not relayed");
    }
}
