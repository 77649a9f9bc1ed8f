//! Provider calls against the fake upstream of proem-testkit, over real HTTP and SSE: every
//! behaviour runs for each wire protocol (`openai::…`, `openai_chat::…`, `anthropic::…`), plus
//! protocol-specific checks (verbatim relay, synthesized frames, Retry-After).

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly where setup or an assertion fails"
)]

use std::time::{Duration, Instant};

use base64::Engine as _;
use futures::StreamExt as _;
use proem_llm::{
    Event, Frame, LlmClient, LlmError, LlmRequest, Message, Part, ProviderKind, Role, Target,
    TimeoutPhase, Timeouts,
};
use proem_testkit::{FakeUpstream, Scenario};
use serde_json::{Value, json};

const KEY: &str = "test-key-123";

fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        first_byte: Duration::from_secs(5),
        idle: Duration::from_secs(5),
    }
}

fn request(kind: ProviderKind, base_url: String, parts: Vec<Part>) -> LlmRequest {
    LlmRequest {
        target: Target {
            kind,
            base_url,
            api_key: Some(KEY.to_owned()),
        },
        model: "fake-model".to_owned(),
        instructions: Some("Be brief.".to_owned()),
        input: vec![Message {
            role: Role::User,
            parts,
        }],
        parameters: serde_json::Map::new(),
        generate_images: false,
    }
}

fn say_hello(kind: ProviderKind, fake: &FakeUpstream) -> LlmRequest {
    request(
        kind,
        fake.base_url(),
        vec![Part::Text("Say hello".to_owned())],
    )
}

/// Runs a call to its end: the events, and the error that ended it (at the start or mid-way).
async fn run(client: &LlmClient, req: LlmRequest) -> (Vec<Event>, Option<LlmError>) {
    let mut stream = match client.stream(req).await {
        Ok(stream) => stream,
        Err(err) => return (Vec::new(), Some(err)),
    };
    let mut events = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(event) => events.push(event),
            Err(err) => return (events, Some(err)),
        }
    }
    (events, None)
}

fn text_of(events: &[Event]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Delta { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

fn deltas(events: &[Event]) -> Vec<&Frame> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Delta { frame, .. } => Some(frame),
            _ => None,
        })
        .collect()
}

/// One `#[tokio::test]` per provider kind for each behaviour, in modules named after the kind.
macro_rules! for_each_kind {
    ($($name:ident),* $(,)?) => {
        for_each_kind!(@kind openai, Openai, $($name),*);
        for_each_kind!(@kind openai_chat, OpenaiChat, $($name),*);
        for_each_kind!(@kind anthropic, Anthropic, $($name),*);
    };
    (@kind $module:ident, $kind:ident, $($name:ident),*) => {
        mod $module {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(proem_llm::ProviderKind::$kind).await
                }
            )*
        }
    };
}

for_each_kind!(
    text_streams_in_order_and_completes_with_usage,
    request_carries_model_instructions_key_and_mapped_parameters,
    image_parts_are_sent_inline_as_base64,
    client_error_is_rejected_uncharged_and_not_retried,
    rate_limit_then_success_is_retried,
    server_error_twice_then_success_is_retried,
    server_error_three_times_is_unavailable,
    cut_mid_stream_is_interrupted_and_charged,
    an_answer_that_is_not_an_event_stream_is_a_protocol_error_uncharged,
    a_json_answer_to_a_streamed_call_is_a_protocol_error_charged,
    bytes_that_are_not_utf8_are_a_protocol_error_charged,
    a_frame_past_16_mib_is_a_protocol_error_charged,
    in_stream_error_event_fails_charged_with_its_reason,
    first_byte_timeout_is_upstream_timeout_uncharged,
    idle_timeout_is_upstream_timeout_charged,
    slow_tokens_within_the_idle_timeout_complete,
    unreachable_port_is_upstream_unreachable,
);

async fn text_streams_in_order_and_completes_with_usage(kind: ProviderKind) {
    let fake = FakeUpstream::start().await;
    fake.push(Scenario::text(["One", " two", " three"]).with_usage(21, 3));
    let (events, error) = run(&LlmClient::new(timeouts()), say_hello(kind, &fake)).await;

    assert!(error.is_none(), "{kind:?}: {error:?}");
    assert_eq!(text_of(&events), "One two three");
    assert_eq!(
        events.last(),
        Some(&Event::Usage {
            input_tokens: 21,
            output_tokens: 3
        }),
        "{kind:?}: usage comes once, last"
    );
    let usages = events
        .iter()
        .filter(|e| matches!(e, Event::Usage { .. }))
        .count();
    assert_eq!(usages, 1);
}

async fn request_carries_model_instructions_key_and_mapped_parameters(kind: ProviderKind) {
    let fake = FakeUpstream::start().await;
    let mut req = say_hello(kind, &fake);
    let parameters = match kind {
        ProviderKind::Openai => json!({
            "reasoning_effort": "low", "verbosity": "high", "max_output_tokens": 64,
            "temperature": 0.3, "unset": null
        }),
        ProviderKind::OpenaiChat | ProviderKind::Anthropic => {
            json!({"max_tokens": 64, "temperature": 0.3, "unset": null})
        }
    };
    req.parameters = parameters.as_object().cloned().unwrap();
    let (_, error) = run(&LlmClient::new(timeouts()), req).await;
    assert!(error.is_none(), "{error:?}");

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!(sent.header("accept"), Some("text/event-stream"));
    match kind {
        ProviderKind::Openai => {
            assert_eq!(sent.path, "/v1/responses");
            assert_eq!(
                sent.header("authorization"),
                Some(format!("Bearer {KEY}").as_str())
            );
            assert_eq!(
                sent.body,
                json!({
                    "model": "fake-model",
                    "instructions": "Be brief.",
                    "input": [{"role": "user", "content": [{"type": "input_text", "text": "Say hello"}]}],
                    "stream": true,
                    "reasoning": {"effort": "low"},
                    "text": {"verbosity": "high"},
                    "max_output_tokens": 64,
                    "temperature": 0.3
                })
            );
        }
        ProviderKind::OpenaiChat => {
            assert_eq!(sent.path, "/v1/chat/completions");
            assert_eq!(
                sent.header("authorization"),
                Some(format!("Bearer {KEY}").as_str())
            );
            assert_eq!(
                sent.body,
                json!({
                    "model": "fake-model",
                    "messages": [
                        {"role": "system", "content": "Be brief."},
                        {"role": "user", "content": "Say hello"}
                    ],
                    "stream": true,
                    "stream_options": {"include_usage": true},
                    "max_tokens": 64,
                    "temperature": 0.3
                })
            );
        }
        ProviderKind::Anthropic => {
            assert_eq!(sent.path, "/v1/messages");
            assert_eq!(sent.header("x-api-key"), Some(KEY));
            assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
            assert_eq!(sent.header("authorization"), None);
            assert_eq!(
                sent.body,
                json!({
                    "model": "fake-model",
                    "system": "Be brief.",
                    "messages": [{"role": "user", "content": [{"type": "text", "text": "Say hello"}]}],
                    "max_tokens": 64,
                    "stream": true,
                    "temperature": 0.3
                })
            );
        }
    }
}

async fn image_parts_are_sent_inline_as_base64(kind: ProviderKind) {
    let fake = FakeUpstream::start().await;
    let png = bytes::Bytes::from_static(&[0x89, b'P', b'N', b'G']);
    let req = request(
        kind,
        fake.base_url(),
        vec![
            Part::Text("What is this?".to_owned()),
            Part::Image {
                mime_type: "image/png".to_owned(),
                data: png,
            },
        ],
    );
    let (_, error) = run(&LlmClient::new(timeouts()), req).await;
    assert!(error.is_none(), "{error:?}");

    let body = &fake.requests()[0].body;
    let (content, expected) = match kind {
        ProviderKind::Openai => (
            &body["input"][0]["content"],
            json!([
                {"type": "input_text", "text": "What is this?"},
                {"type": "input_image", "image_url": "data:image/png;base64,iVBORw=="}
            ]),
        ),
        ProviderKind::OpenaiChat => (
            &body["messages"][1]["content"],
            json!([
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}}
            ]),
        ),
        ProviderKind::Anthropic => (
            &body["messages"][0]["content"],
            json!([
                {"type": "text", "text": "What is this?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw=="}}
            ]),
        ),
    };
    assert_eq!(content, &expected);
}

async fn client_error_is_rejected_uncharged_and_not_retried(kind: ProviderKind) {
    let fake = FakeUpstream::start().await;
    fake.push(Scenario::error(400));
    let (events, error) = run(&LlmClient::new(timeouts()), say_hello(kind, &fake)).await;

    let error = error.unwrap();
    assert!(events.is_empty());
    assert_eq!(error.reason_code(), "upstream_rejected");
    assert!(!error.charged());
    assert!(
        error.message().contains("fake upstream answered 400"),
        "the provider's message is kept: {}",
        error.message()
    );
    assert_eq!(fake.requests().len(), 1, "a 4xx is not retried");
}

async fn rate_limit_then_success_is_retried(kind: ProviderKind) {
    let fake = FakeUpstream::start().await;
    fake.push(Scenario::failing(429, 1).with_retry_after(0));
    let (events, error) = run(&LlmClient::new(timeouts()), say_hello(kind, &fake)).await;

    assert!(error.is_none(), "{error:?}");
    assert_eq!(text_of(&events), "Hello world");
    assert_eq!(fake.requests().len(), 2);
}

async fn server_error_twice_then_success_is_retried(kind: ProviderKind) {
    let fake = FakeUpstream::start().await;
    fake.push(Scenario::failing(503, 2));
    let (events, error) = run(&LlmClient::new(timeouts()), say_hello(kind, &fake)).await;

    assert!(error.is_none(), "{error:?}");
    assert_eq!(text_of(&events), "Hello world");
    assert_eq!(fake.requests().len(), 3);
}

async fn server_error_three_times_is_unavailable(kind: ProviderKind) {
    let fake = FakeUpstream::start().await;
    fake.push(Scenario::failing(500, 3));
    let (_, error) = run(&LlmClient::new(timeouts()), say_hello(kind, &fake)).await;

    let error = error.unwrap();
    assert_eq!(error.reason_code(), "upstream_unavailable");
    assert!(!error.charged());
    assert_eq!(fake.requests().len(), 3, "one call and two retries");
}

async fn cut_mid_stream_is_interrupted_and_charged(kind: ProviderKind) {
    let fake = FakeUpstream::start().await;
    fake.push(Scenario::text(["a", "b", "c", "d"]).with_cut_after(2));
    let (events, error) = run(&LlmClient::new(timeouts()), say_hello(kind, &fake)).await;

    let error = error.unwrap();
    assert_eq!(
        text_of(&events),
        "ab",
        "what arrived before the cut is kept"
    );
    assert_eq!(error.reason_code(), "upstream_stream_interrupted");
    assert!(error.charged());
    assert_eq!(
        fake.requests().len(),
        1,
        "nothing is retried after the first byte"
    );
}

async fn an_answer_that_is_not_an_event_stream_is_a_protocol_error_uncharged(kind: ProviderKind) {
    let fake = FakeUpstream::start().await;
    fake.push(Scenario::text(["a", "b"]).with_content_type("text/html"));
    let (events, error) = run(&LlmClient::new(timeouts()), say_hello(kind, &fake)).await;

    let error = error.unwrap();
    assert_eq!(text_of(&events), "", "nothing of the body is relayed");
    assert_eq!(error.reason_code(), "upstream_protocol_error", "{error}");
    assert!(error.to_string().contains("text/html"), "{error}");
    assert!(!error.charged());
    assert_eq!(fake.requests().len(), 1, "a protocol error is not retried");
}

async fn a_json_answer_to_a_streamed_call_is_a_protocol_error_charged(kind: ProviderKind) {
    let fake = FakeUpstream::start().await;
    fake.push(Scenario::text(["a", "b"]).with_content_type("application/json; charset=utf-8"));
    let (_, error) = run(&LlmClient::new(timeouts()), say_hello(kind, &fake)).await;

    let error = error.unwrap();
    assert_eq!(error.reason_code(), "upstream_protocol_error", "{error}");
    assert!(error.to_string().contains("application/json"), "{error}");
    assert!(
        error.charged(),
        "the provider made, and billed, a whole completion"
    );
    assert_eq!(fake.requests().len(), 1);
}

async fn bytes_that_are_not_utf8_are_a_protocol_error_charged(kind: ProviderKind) {
    let fake = FakeUpstream::start().await;
    fake.push(Scenario::text(["a", "b", "c"]).with_raw_after(2, &b"data: \xff\xfe\n\n"[..]));
    let (events, error) = run(&LlmClient::new(timeouts()), say_hello(kind, &fake)).await;

    let error = error.unwrap();
    assert_eq!(text_of(&events), "ab", "what arrived before is kept");
    assert_eq!(error.reason_code(), "upstream_protocol_error", "{error}");
    assert!(error.to_string().contains("UTF-8"), "{error}");
    assert!(error.charged());
}

async fn a_frame_past_16_mib_is_a_protocol_error_charged(kind: ProviderKind) {
    let fake = FakeUpstream::start().await;
    let mut endless = b"data: ".to_vec();
    endless.resize(16 * 1024 * 1024 + 1, b'x');
    fake.push(Scenario::text(["a", "b"]).with_raw_after(1, endless));
    let (events, error) = run(&LlmClient::new(timeouts()), say_hello(kind, &fake)).await;

    let error = error.unwrap();
    assert_eq!(text_of(&events), "a");
    assert_eq!(error.reason_code(), "upstream_protocol_error", "{error}");
    assert!(error.to_string().contains("16 MB"), "{error}");
    assert!(error.charged());
}

async fn in_stream_error_event_fails_charged_with_its_reason(kind: ProviderKind) {
    let fake = FakeUpstream::start().await;
    fake.push(Scenario::text(["a", "b"]).with_error_event_after(1));
    let (events, error) = run(&LlmClient::new(timeouts()), say_hello(kind, &fake)).await;

    let error = error.unwrap();
    assert_eq!(text_of(&events), "a");
    assert_eq!(error.reason_code(), "upstream_unavailable", "{error}");
    assert!(error.charged());
}

async fn first_byte_timeout_is_upstream_timeout_uncharged(kind: ProviderKind) {
    let fake = FakeUpstream::start().await;
    fake.push(Scenario::default().with_time_to_first_token(Duration::from_secs(5)));
    let client = LlmClient::new(Timeouts {
        first_byte: Duration::from_millis(300),
        ..timeouts()
    });
    let started = Instant::now();
    let (events, error) = run(&client, say_hello(kind, &fake)).await;

    let error = error.unwrap();
    assert!(events.is_empty());
    assert!(matches!(
        error,
        LlmError::Timeout {
            phase: TimeoutPhase::FirstByte,
            ..
        }
    ));
    assert_eq!(error.reason_code(), "upstream_timeout");
    assert!(!error.charged());
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(fake.requests().len(), 1, "a timeout is not retried");
}

async fn idle_timeout_is_upstream_timeout_charged(kind: ProviderKind) {
    let fake = FakeUpstream::start().await;
    fake.push(Scenario::text(["a", "b", "c"]).with_hang_after(1));
    let client = LlmClient::new(Timeouts {
        idle: Duration::from_millis(300),
        ..timeouts()
    });
    let (events, error) = run(&client, say_hello(kind, &fake)).await;

    let error = error.unwrap();
    assert_eq!(text_of(&events), "a");
    assert!(matches!(
        error,
        LlmError::Timeout {
            phase: TimeoutPhase::Idle,
            ..
        }
    ));
    assert_eq!(error.reason_code(), "upstream_timeout");
    assert!(error.charged());
}

async fn slow_tokens_within_the_idle_timeout_complete(kind: ProviderKind) {
    let fake = FakeUpstream::start().await;
    // Five tokens 150 ms apart: longer in total than the idle timeout, never idle that long.
    fake.push(
        Scenario::text(["1", "2", "3", "4", "5"])
            .with_inter_token_delay(Duration::from_millis(150))
            .with_time_to_first_token(Duration::from_millis(200)),
    );
    let client = LlmClient::new(Timeouts {
        first_byte: Duration::from_millis(400),
        idle: Duration::from_millis(400),
        ..timeouts()
    });
    let (events, error) = run(&client, say_hello(kind, &fake)).await;

    assert!(error.is_none(), "{error:?}");
    assert_eq!(text_of(&events), "12345");
}

async fn unreachable_port_is_upstream_unreachable(kind: ProviderKind) {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let req = request(
        kind,
        format!("http://127.0.0.1:{port}/v1"),
        vec![Part::Text("Say hello".to_owned())],
    );
    let (_, error) = run(&LlmClient::new(timeouts()), req).await;

    let error = error.unwrap();
    assert_eq!(error.reason_code(), "upstream_unreachable");
    assert!(!error.charged());
    assert!(
        !error.message().contains(KEY) && !error.message().contains("127.0.0.1"),
        "{}",
        error.message()
    );
}

#[tokio::test]
async fn responses_frames_are_relayed_verbatim() {
    let fake = FakeUpstream::start().await;
    fake.push(Scenario::text(["Hé", "llo \"q\"", "\n🙂"]));
    let (events, error) = run(
        &LlmClient::new(timeouts()),
        say_hello(ProviderKind::Openai, &fake),
    )
    .await;
    assert!(error.is_none(), "{error:?}");

    let relayed: Vec<(String, String)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Delta { frame, .. } | Event::Passthrough(frame) => {
                Some((frame.event.to_string(), frame.data.clone()))
            }
            Event::Usage { .. } | Event::Image { .. } => None,
        })
        .collect();
    let sent: Vec<(String, String)> = fake
        .sent_frames()
        .into_iter()
        .map(|f| (f.event.unwrap(), f.data))
        .collect();
    assert_eq!(relayed, sent, "every response.* frame, byte for byte");
    assert_eq!(text_of(&events), "Héllo \"q\"\n🙂");
    assert!(
        matches!(&events[events.len() - 2], Event::Passthrough(f) if f.event == "response.completed")
    );
}

#[tokio::test]
async fn chat_deltas_are_relayed_as_responses_frames() {
    deltas_are_synthesized_in_the_responses_shape(ProviderKind::OpenaiChat, "msg_chatcmpl-fake")
        .await;
}

#[tokio::test]
async fn anthropic_deltas_are_relayed_as_responses_frames() {
    deltas_are_synthesized_in_the_responses_shape(ProviderKind::Anthropic, "msg_fake01").await;
}

async fn deltas_are_synthesized_in_the_responses_shape(kind: ProviderKind, item_id: &str) {
    let fake = FakeUpstream::start().await;
    let tokens = ["Hé", "llo \"q\"", "\n🙂"];
    fake.push(Scenario::text(tokens));
    let (events, error) = run(&LlmClient::new(timeouts()), say_hello(kind, &fake)).await;
    assert!(error.is_none(), "{error:?}");

    assert!(
        !events.iter().any(|e| matches!(e, Event::Passthrough(_))),
        "only Responses upstreams pass frames through"
    );
    let frames = deltas(&events);
    assert_eq!(frames.len(), tokens.len());
    for (n, (frame, token)) in frames.iter().zip(tokens).enumerate() {
        assert_eq!(frame.event, "response.output_text.delta");
        assert!(
            frame
                .data
                .starts_with(r#"{"type":"response.output_text.delta","item_id":"#),
            "{}",
            frame.data
        );
        let data: Value = serde_json::from_str(&frame.data).unwrap();
        assert_eq!(
            data,
            json!({
                "type": "response.output_text.delta",
                "item_id": item_id,
                "output_index": 0,
                "content_index": 0,
                "delta": token,
                "sequence_number": n,
            })
        );
    }
}

#[tokio::test]
async fn retry_after_is_honoured_before_retrying() {
    let fake = FakeUpstream::start().await;
    fake.push(Scenario::failing(429, 1).with_retry_after(1));
    let started = Instant::now();
    let (_, error) = run(
        &LlmClient::new(timeouts()),
        say_hello(ProviderKind::OpenaiChat, &fake),
    )
    .await;

    assert!(error.is_none(), "{error:?}");
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn long_retry_after_fails_now_as_rate_limited() {
    let fake = FakeUpstream::start().await;
    fake.push(Scenario::failing(429, 1).with_retry_after(120));
    let started = Instant::now();
    let (_, error) = run(
        &LlmClient::new(timeouts()),
        say_hello(ProviderKind::Anthropic, &fake),
    )
    .await;

    let error = error.unwrap();
    assert_eq!(error.reason_code(), "upstream_rate_limited");
    assert!(!error.charged());
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn anthropic_max_tokens_defaults_to_4096() {
    let fake = FakeUpstream::start().await;
    let (_, error) = run(
        &LlmClient::new(timeouts()),
        say_hello(ProviderKind::Anthropic, &fake),
    )
    .await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(fake.requests()[0].body["max_tokens"], json!(4096));
}

#[tokio::test]
async fn no_key_sends_no_auth_header() {
    let fake = FakeUpstream::start().await;
    let mut req = say_hello(ProviderKind::OpenaiChat, &fake);
    req.target.api_key = None;
    let (_, error) = run(&LlmClient::new(timeouts()), req).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(fake.requests()[0].header("authorization"), None);
}

#[tokio::test]
async fn invalid_base_url_is_unreachable_without_a_request() {
    let mut req = request(
        ProviderKind::Openai,
        "ftp://example/v1".to_owned(),
        vec![Part::Text("hi".to_owned())],
    );
    req.target.api_key = None;
    let (_, error) = run(&LlmClient::new(timeouts()), req).await;
    assert_eq!(error.unwrap().reason_code(), "upstream_unreachable");
}

#[test]
fn request_debug_never_shows_the_key_or_the_prompt() {
    let req = request(
        ProviderKind::Openai,
        "http://127.0.0.1:9/v1".to_owned(),
        vec![Part::Text("secret prompt text".to_owned())],
    );
    let debug = format!("{req:?}");
    assert!(!debug.contains(KEY), "{debug}");
    assert!(
        !debug.contains("secret prompt") && !debug.contains("Be brief"),
        "{debug}"
    );
}

#[tokio::test]
async fn responses_image_generation_offers_the_tool_and_yields_each_image() {
    let fake = FakeUpstream::start().await;
    let png = bytes::Bytes::from_static(b"\x89PNG\r\n\x1a\nimage");
    fake.push(Scenario::text(["A cat"]).with_images([png.clone(), png.clone()]));
    let mut req = say_hello(ProviderKind::Openai, &fake);
    req.generate_images = true;
    let (events, error) = run(&LlmClient::new(timeouts()), req).await;
    assert!(error.is_none(), "{error:?}");

    let body = fake.last_request().unwrap().body;
    assert_eq!(body["tools"], json!([{"type": "image_generation"}]));
    let images: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::Image { base64 } => Some(base64.as_str()),
            _ => None,
        })
        .collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(&png);
    assert_eq!(images, [encoded.as_str(), encoded.as_str()]);
    // The partial images and the finished items are relayed as they came, before each image.
    let relayed: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::Passthrough(frame) => Some(&*frame.event),
            _ => None,
        })
        .filter(|name| name.contains("image") || *name == "response.output_item.done")
        .collect();
    assert!(relayed.contains(&"response.image_generation_call.partial_image"));
    assert_eq!(text_of(&events), "A cat");
}

#[tokio::test]
async fn a_text_call_offers_no_tools() {
    let fake = FakeUpstream::start().await;
    fake.push(Scenario::default());
    let (_, error) = run(
        &LlmClient::new(timeouts()),
        say_hello(ProviderKind::Openai, &fake),
    )
    .await;
    assert!(error.is_none(), "{error:?}");
    assert!(fake.last_request().unwrap().body.get("tools").is_none());
}
