//! LLM providers: one streaming call to an OpenAI Responses, OpenAI-compatible Chat Completions or
//! Anthropic Messages upstream, relayed as frames in the OpenAI Responses API shape that Proem's
//! run stream passes to its clients (spec "SSE protocol": upstream events in the middle, verbatim).
//!
//! The pipeline of one call (see `relay.rs`): request body built by the provider module → POST
//! with retries before the first byte (`client.rs`) → body bytes under first-byte and idle
//! watchdogs → SSE frames (`sse.rs`) → the provider's decoder → [`Event`]s.
//! Usage comes back as tokens; pricing it into millicents is the caller's job (it owns the catalog).

mod anthropic;
mod chat_scan;
mod client;
mod error;
mod openai_chat;
mod openai_responses;
mod relay;
mod sse;
mod wire;

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use client::{LlmClient, Timeouts};
pub use error::{LlmError, TimeoutPhase, UpstreamClass};

/// Wire protocol of a provider; serde names as in the config: "openai", "openai_chat", "anthropic".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// OpenAI Responses API (`POST {base_url}/responses`).
    Openai,
    /// Any OpenAI-compatible Chat Completions server (`POST {base_url}/chat/completions`):
    /// Ollama, vLLM, llama.cpp, OpenRouter…
    OpenaiChat,
    /// Anthropic Messages API (`POST {base_url}/messages`).
    Anthropic,
}

/// Where a call goes.
#[derive(Clone)]
pub struct Target {
    pub kind: ProviderKind,
    /// Base URL including the version segment, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// The resolved key, sent as `Authorization: Bearer` or `x-api-key`; local servers need none.
    pub api_key: Option<String>,
}

// Hand-written so a `{:?}` of a request can never print the key.
impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// One call: which model, the prompt and the conversation, and the catalog parameters.
#[derive(Clone)]
pub struct LlmRequest {
    pub target: Target,
    /// The provider's wire model name.
    pub model: String,
    /// The prompt text, sent as `instructions` (Responses) or the system prompt.
    pub instructions: Option<String>,
    /// The conversation, usually one user message.
    pub input: Vec<Message>,
    /// Catalog parameters (`reasoning_effort`, `max_tokens`, `temperature`, …); each provider
    /// maps the ones it knows and passes the rest as top-level body fields. `null` means unset.
    pub parameters: serde_json::Map<String, serde_json::Value>,
    /// Offer the model image generation (the Responses API's `image_generation` tool); each
    /// image it makes arrives as [`Event::Image`]. Only the Responses API can: the catalog
    /// refuses image-output models of other kinds.
    pub generate_images: bool,
}

// Hand-written: the derived form would print prompts and inputs, which never go to logs.
impl fmt::Debug for LlmRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmRequest")
            .field("target", &self.target)
            .field("model", &self.model)
            .field("messages", &self.input.len())
            .finish_non_exhaustive()
    }
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// A piece of a message: text, or an image sent inline (as a data URL or a base64 source).
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    Image {
        mime_type: String,
        data: bytes::Bytes,
    },
}

/// One SSE frame to relay to Proem's clients, already in the OpenAI Responses API shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The SSE `event:` name, e.g. `response.output_text.delta` (static for the frames Proem
    /// names itself, which is every delta).
    pub event: Cow<'static, str>,
    /// The SSE `data:` payload (JSON).
    pub data: String,
}

/// What a call yields while it streams.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Output text. `frame` is the `response.output_text.delta` frame to relay: verbatim from an
    /// OpenAI Responses upstream; for Chat Completions and Anthropic upstreams, synthesized in the
    /// same shape: `{"type":"response.output_text.delta","item_id":"msg_…","output_index":0,
    /// "content_index":0,"delta":"…","sequence_number":N}`.
    Delta { text: String, frame: Frame },
    /// Another upstream Responses-API frame worth relaying verbatim (`response.created`,
    /// `response.output_text.done`, `response.completed`, …). Never emitted for other kinds.
    Passthrough(Frame),
    /// A generated image (base64, as the upstream sent it), from a finished
    /// `image_generation_call` output item; that item's frame came just before as
    /// [`Event::Passthrough`].
    Image { base64: String },
    /// Token usage as the provider reports it, once, just before the stream ends.
    Usage {
        input_tokens: i64,
        output_tokens: i64,
    },
}

/// The events of one call. It ends (`None`) after the upstream's completion marker; an `Err`
/// item means the stream failed mid-way and is always the last item.
pub type EventStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = Result<Event, LlmError>> + Send>>;
