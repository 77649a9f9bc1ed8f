//! OpenAI-compatible Chat Completions (Ollama, vLLM, llama.cpp, OpenRouter…): `POST
//! {base_url}/chat/completions` with `stream: true` and usage requested in a final chunk. Content
//! deltas are re-framed as Responses-API `response.output_text.delta` frames; `data: [DONE]` ends
//! the stream.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;

use serde::de::{IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::chat_scan::{self, ChunkView};
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

    fn apply(&mut self, chunk: ChunkView<'_>, out: &mut VecDeque<Event>) {
        if let Some(id) = chunk.id.as_deref() {
            self.synth.set_item_id(id);
        }
        if chunk.reasoning {
            self.output_started = true;
        }
        if let Some(text) = chunk.content.filter(|t| !t.is_empty()) {
            self.output_started = true;
            out.push_back(self.synth.delta(&text));
        }
        if chunk.finished {
            self.finished = true;
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
        match chat_scan::scan(data) {
            Some(view) => self.apply(view, out),
            None => {
                let (view, usage) = read_with_serde(data)?;
                self.apply(view, out);
                if usage.is_some() {
                    self.usage = usage;
                }
            }
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

/// Any chunk, read by serde: what [`chat_scan`] leaves to it.
fn read_with_serde(data: &str) -> Result<(ChunkView<'_>, Option<ChatUsage>), Fault> {
    let chunk: Chunk = serde_json::from_str(data)
        .map_err(|err| Fault::Protocol(json_detail("chat completion chunk", &err)))?;
    // OpenRouter and some proxies report failures as a chunk with an `error` object.
    if let Some(error) = chunk.error {
        return Err(error.into_fault());
    }
    let mut view = ChunkView {
        id: chunk.id,
        ..ChunkView::default()
    };
    if let Some(choice) = chunk.choices.0 {
        if let Some(delta) = choice.delta {
            view.reasoning = delta.reasoning_content.is_some() || delta.reasoning.is_some();
            view.content = delta.content;
        }
        view.finished = choice.finish_reason.is_some();
    }
    Ok((view, chunk.usage))
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

    /// Chunks of every shape the scanner meets: the fake's, and what real servers add.
    const CHUNKS: &[&str] = &[
        r#"{"id":"chatcmpl-fake","object":"chat.completion.chunk","created":1700000000,"model":"fake-model","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
        r#"{"id":"chatcmpl-fake","object":"chat.completion.chunk","created":1700000000,"model":"fake-model","choices":[{"index":0,"delta":{"content":"t1 "},"finish_reason":null}]}"#,
        r#"{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
        r#"{"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#,
        r#"{"id":"c","choices":null,"usage":null,"error":null}"#,
        r#"{"choices":[{"delta":{"reasoning_content":"hm","content":null}},{"delta":{"content":"b"}}]}"#,
        r#"{"choices":[{"delta":{"reasoning":{"a":[1,2.5,-3e+2,true,false,null]}}}]}"#,
        r#"{"id":null,"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]},"logprobs":null}]}"#,
        r#" { "id" : "c" , "choices" : [ { "delta" : { "content" : "señor ✓" } , "finish_reason" : null } ] } "#,
        r#"{"id":"c","system_fingerprint":"fp","choices":[{"delta":{"content":"a\nb \"q\""}}]}"#,
        r#"{"error":{"message":"slow down","code":429}}"#,
        r#"{"id":"c","created":0,"n":-0.0,"m":1E9,"choices":[{"delta":{"content":"x"},"finish_reason":{"k":[]}}]}"#,
    ];

    /// A small deterministic generator, so a failure repeats.
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 33) as usize) % n.max(1)
        }
    }

    /// `chunk` with a few random edits: bytes dropped, repeated or replaced by JSON's structural
    /// characters, so that near-misses of every kind reach both readers.
    fn mutate(chunk: &str, rng: &mut Lcg) -> String {
        const PIECES: &[&str] = &[
            "\"",
            "\\",
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "0",
            "-",
            ".",
            "e",
            "n",
            " ",
            "\n",
            "\u{1}",
            "null",
            "true",
            "01",
            "1.",
            "\"id\":\"d\",",
            "\"content\":\"z\",",
            "\"usage\":null,",
        ];
        let mut chars: Vec<char> = chunk.chars().collect();
        for _ in 0..=rng.below(3) {
            let at = rng.below(chars.len() + 1);
            match rng.below(4) {
                0 if at < chars.len() => {
                    let len = 1 + rng.below(3);
                    chars.drain(at..(at + len).min(chars.len()));
                }
                1 => {
                    let piece = PIECES[rng.below(PIECES.len())];
                    chars.splice(at..at, piece.chars());
                }
                2 if at < chars.len() => {
                    let piece = PIECES[rng.below(PIECES.len())];
                    chars.splice(at..at + 1, piece.chars());
                }
                _ => {
                    let from = rng.below(chars.len());
                    let copy: Vec<char> = chars[from..(from + 12).min(chars.len())].to_vec();
                    chars.splice(at..at, copy);
                }
            }
        }
        chars.into_iter().collect()
    }

    #[test]
    fn the_scanner_reads_the_common_chunk_without_serde() {
        let view = chat_scan::scan(CHUNKS[1]).expect("the fake's token chunk is scanned");
        assert_eq!(view.id.as_deref(), Some("chatcmpl-fake"));
        assert_eq!(view.content.as_deref(), Some("t1 "));
        assert!(!view.finished && !view.reasoning);
        // Escapes, usage and errors are serde's.
        assert_eq!(chat_scan::scan(CHUNKS[9]), None);
        assert_eq!(chat_scan::scan(CHUNKS[3]), None);
        assert_eq!(chat_scan::scan(CHUNKS[10]), None);
    }

    /// Whenever the scanner answers, serde's decode of the same chunk gives the same answer:
    /// over every chunk above and thousands of near-misses of them.
    #[test]
    fn the_scanner_answers_only_as_serde_would() {
        let mut rng = Lcg(7);
        let (mut scanned, mut total) = (0, 0);
        for chunk in CHUNKS {
            let mutants: Vec<String> = std::iter::once(chunk.to_string())
                .chain((0..2_000).map(|_| mutate(chunk, &mut rng)))
                .collect();
            for data in &mutants {
                total += 1;
                let Some(view) = chat_scan::scan(data) else {
                    continue;
                };
                scanned += 1;
                match read_with_serde(data) {
                    Ok((by_serde, usage)) => {
                        assert_eq!(view, by_serde, "{data}");
                        assert!(usage.is_none(), "{data}");
                    }
                    Err(_) => panic!("scanned, but serde refuses: {data}"),
                }
            }
        }
        // Not a test that passes by never scanning: a good share of the near-misses are still
        // chunks the scanner reads.
        assert!(scanned > total / 10, "{scanned} of {total} scanned");
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
