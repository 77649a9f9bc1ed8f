//! A fake LLM provider on `127.0.0.1:0` that speaks the three wire protocols Proem calls —
//! OpenAI Responses (`/v1/responses`), Chat Completions (`/v1/chat/completions`) and Anthropic
//! Messages (`/v1/messages`) — over real HTTP with real SSE. Each test queues the behaviour of
//! the next requests as [`Scenario`]s (slow tokens, error statuses, cuts, hangs) and reads back
//! what was sent to it.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::ListenerExt as _;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Token usage a scenario reports at the end of its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FakeUsage {
    pub input_tokens: i64,
    pub output_tokens: i64,
}

/// How the fake answers one request (or, with `fail_times`, a few in a row).
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Output text, one delta per token.
    pub tokens: Vec<String>,
    /// Pause between two tokens.
    pub inter_token_delay: Duration,
    /// Pause after the response headers, before any byte of the body.
    pub time_to_first_token: Duration,
    /// Answer this HTTP status with the protocol's JSON error body instead of streaming. With
    /// `fail_times` = 0 it answers one request; see `fail_times`.
    pub error_status: Option<u16>,
    /// `Retry-After` (seconds) sent with `error_status`.
    pub retry_after: Option<u64>,
    /// Answer `error_status` (500 when unset) to this many requests, then stream normally on the
    /// next one: for retry tests.
    pub fail_times: u32,
    /// Drop the connection after this many tokens, without a completion marker.
    pub cut_after: Option<usize>,
    /// Stop sending after this many tokens but keep the connection open (idle timeouts).
    pub hang_after: Option<usize>,
    /// Send the protocol's in-stream error event after this many tokens and end the body.
    pub error_event_after: Option<usize>,
    /// Send these bytes as they are after this many tokens and end the body: a malformed
    /// stream (bytes that are not UTF-8, a frame that never ends).
    pub raw_after: Option<(usize, Bytes)>,
    /// The answer's `Content-Type` when it is not `text/event-stream`.
    pub content_type: Option<&'static str>,
    /// Images to generate (Responses API only): each is sent after the text as a
    /// `response.image_generation_call.partial_image` frame and an `image_generation_call`
    /// output item, both carrying the bytes in base64, as the real service does.
    pub images: Vec<Bytes>,
    /// Usage reported at the end.
    pub usage: FakeUsage,
}

impl Default for Scenario {
    /// "Hello", " world", usage 12 in / 2 out, no delays.
    fn default() -> Self {
        Self::text(["Hello", " world"])
    }
}

impl Scenario {
    /// Streams these tokens, reporting one output token per token and 12 input tokens.
    pub fn text<S: Into<String>>(tokens: impl IntoIterator<Item = S>) -> Self {
        let tokens: Vec<String> = tokens.into_iter().map(Into::into).collect();
        let output_tokens = tokens.len() as i64;
        Self {
            tokens,
            inter_token_delay: Duration::ZERO,
            time_to_first_token: Duration::ZERO,
            error_status: None,
            retry_after: None,
            fail_times: 0,
            cut_after: None,
            hang_after: None,
            error_event_after: None,
            raw_after: None,
            content_type: None,
            images: Vec::new(),
            usage: FakeUsage {
                input_tokens: 12,
                output_tokens,
            },
        }
    }

    /// Answers one request with `status` and a JSON error body.
    pub fn error(status: u16) -> Self {
        Self {
            error_status: Some(status),
            ..Self::default()
        }
    }

    /// Answers `status` to `times` requests, then streams the default text.
    pub fn failing(status: u16, times: u32) -> Self {
        Self {
            error_status: Some(status),
            fail_times: times,
            ..Self::default()
        }
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn with_inter_token_delay(mut self, delay: Duration) -> Self {
        self.inter_token_delay = delay;
        self
    }

    pub fn with_time_to_first_token(mut self, delay: Duration) -> Self {
        self.time_to_first_token = delay;
        self
    }

    pub fn with_cut_after(mut self, tokens: usize) -> Self {
        self.cut_after = Some(tokens);
        self
    }

    pub fn with_hang_after(mut self, tokens: usize) -> Self {
        self.hang_after = Some(tokens);
        self
    }

    pub fn with_error_event_after(mut self, tokens: usize) -> Self {
        self.error_event_after = Some(tokens);
        self
    }

    pub fn with_raw_after(mut self, tokens: usize, bytes: impl Into<Bytes>) -> Self {
        self.raw_after = Some((tokens, bytes.into()));
        self
    }

    pub fn with_content_type(mut self, content_type: &'static str) -> Self {
        self.content_type = Some(content_type);
        self
    }

    pub fn with_images(mut self, images: impl IntoIterator<Item = Bytes>) -> Self {
        self.images = images.into_iter().collect();
        self
    }

    pub fn with_usage(mut self, input_tokens: i64, output_tokens: i64) -> Self {
        self.usage = FakeUsage {
            input_tokens,
            output_tokens,
        };
        self
    }
}

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// e.g. `/v1/chat/completions`.
    pub path: String,
    /// Lower-case header names.
    pub headers: BTreeMap<String, String>,
    /// The JSON body (`Value::Null` when it was not JSON).
    pub body: serde_json::Value,
    /// When the handler had it, body and all.
    pub received_at: Instant,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// One SSE frame as the fake sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentFrame {
    /// The `event:` line, if the protocol sends one.
    pub event: Option<String>,
    pub data: String,
}

/// One streamed answer's frames, each with the instant it was sent.
type FrameLog = Arc<Mutex<Vec<(Instant, SentFrame)>>>;

#[derive(Default)]
struct Shared {
    queue: Mutex<VecDeque<Scenario>>,
    requests: Mutex<Vec<RecordedRequest>>,
    /// Frames of each streamed answer, in order.
    streams: Mutex<Vec<FrameLog>>,
}

/// The running fake; stops when dropped.
pub struct FakeUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    handle: JoinHandle<()>,
}

impl FakeUpstream {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route(
                "/v1/responses",
                post(|state, headers, body| answer(state, Protocol::Responses, headers, body)),
            )
            .route(
                "/v1/chat/completions",
                post(|state, headers, body| answer(state, Protocol::Chat, headers, body)),
            )
            .route(
                "/v1/messages",
                post(|state, headers, body| answer(state, Protocol::Anthropic, headers, body)),
            )
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake upstream");
        let addr = listener.local_addr().expect("fake upstream address");
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let handle = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            shared,
            handle,
        }
    }

    /// `http://127.0.0.1:PORT/v1`
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues the behaviour of the next request(s). With an empty queue the fake streams the
    /// default scenario.
    pub fn push(&self, scenario: Scenario) {
        self.shared
            .queue
            .lock()
            .expect("scenario queue")
            .push_back(scenario);
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests.lock().expect("requests").clone()
    }

    /// The most recent request received.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.shared
            .requests
            .lock()
            .expect("requests")
            .last()
            .cloned()
    }

    /// The frames of the most recent streamed answer, as sent so far.
    pub fn sent_frames(&self) -> Vec<SentFrame> {
        let streams = self.shared.streams.lock().expect("streams");
        streams
            .last()
            .map(|frames| {
                let frames = frames.lock().expect("frames");
                frames.iter().map(|(_, frame)| frame.clone()).collect()
            })
            .unwrap_or_default()
    }

    /// Every streamed answer's frames so far, each with the instant it was sent, and forgets
    /// them: a benchmark compares these with when its client received each frame.
    pub fn take_sent_streams(&self) -> Vec<Vec<(Instant, SentFrame)>> {
        let streams = std::mem::take(&mut *self.shared.streams.lock().expect("streams"));
        streams
            .iter()
            .map(|frames| frames.lock().expect("frames").clone())
            .collect()
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Responses,
    Chat,
    Anthropic,
}

impl Protocol {
    fn path(self) -> &'static str {
        match self {
            Protocol::Responses => "/v1/responses",
            Protocol::Chat => "/v1/chat/completions",
            Protocol::Anthropic => "/v1/messages",
        }
    }
}

enum Action {
    Fail {
        status: u16,
        retry_after: Option<u64>,
    },
    Stream(Box<Scenario>),
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    protocol: Protocol,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let received_at = Instant::now();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let model = body["model"].as_str().unwrap_or("fake-model").to_owned();
    shared
        .requests
        .lock()
        .expect("requests")
        .push(RecordedRequest {
            path: protocol.path().to_owned(),
            headers: headers
                .iter()
                .map(|(name, value)| {
                    let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                    (name.as_str().to_owned(), value)
                })
                .collect(),
            body,
            received_at,
        });

    match next_action(&shared) {
        Action::Fail {
            status,
            retry_after,
        } => error_response(protocol, status, retry_after),
        Action::Stream(scenario) => {
            let content_type = scenario.content_type.unwrap_or("text/event-stream");
            let frames = Arc::new(Mutex::new(Vec::new()));
            shared.streams.lock().expect("streams").push(frames.clone());
            let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
            let player = Box::pin(play(
                Script::new(protocol, model, &scenario),
                *scenario,
                tx,
                frames,
            ));
            let mut response = Body::from_stream(Playing {
                player: Some(player),
                frames: rx,
            })
            .into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
    }
}

/// Takes the behaviour for this request off the queue. A failing scenario stays at the front
/// until its failures are used up, then streams once.
fn next_action(shared: &Shared) -> Action {
    let mut queue = shared.queue.lock().expect("scenario queue");
    let Some(front) = queue.front_mut() else {
        return Action::Stream(Box::default());
    };
    if front.fail_times > 0 {
        front.fail_times -= 1;
        let action = Action::Fail {
            status: front.error_status.unwrap_or(500),
            retry_after: front.retry_after,
        };
        if front.fail_times == 0 {
            front.error_status = None;
        }
        return action;
    }
    let scenario = queue.pop_front().unwrap_or_default();
    match scenario.error_status {
        Some(status) => Action::Fail {
            status,
            retry_after: scenario.retry_after,
        },
        None => Action::Stream(Box::new(scenario)),
    }
}

fn error_response(protocol: Protocol, status: u16, retry_after: Option<u64>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = format!("fake upstream answered {}", status.as_u16());
    let body = match protocol {
        Protocol::Responses | Protocol::Chat => {
            let (kind, code) = match status.as_u16() {
                429 => ("requests", Some("rate_limit_exceeded")),
                400..=499 => ("invalid_request_error", None),
                _ => ("server_error", None),
            };
            serde_json::json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
        }
        Protocol::Anthropic => {
            let kind = match status.as_u16() {
                429 => "rate_limit_error",
                529 => "overloaded_error",
                400..=499 => "invalid_request_error",
                _ => "api_error",
            };
            serde_json::json!({"type": "error", "error": {"type": kind, "message": message}})
        }
    };
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// An answer's body, which plays its script itself: each frame is written by the connection's
/// task in the poll that produced it, with no hand-over to another task per frame (the bench's
/// crowds of streams measure Proem against this fake, on a core of its own).
struct Playing {
    /// `None` once the script has played out.
    player: Option<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>>,
    frames: mpsc::Receiver<Result<Bytes, std::io::Error>>,
}

impl futures::Stream for Playing {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        // The channel only fills while the player is polled here, so it is read without
        // registering a waker; the player's own timers and sends wake this task.
        if let Ok(frame) = self.frames.try_recv() {
            return Poll::Ready(Some(frame));
        }
        if let Some(player) = self.player.as_mut()
            && player.as_mut().poll(cx).is_ready()
        {
            self.player = None;
        }
        match self.frames.try_recv() {
            Ok(frame) => Poll::Ready(Some(frame)),
            Err(_) if self.player.is_some() => Poll::Pending,
            Err(_) => Poll::Ready(None),
        }
    }
}

/// Sends the scenario's frames with its timing, stopping early as soon as the client is gone.
async fn play(
    mut script: Script,
    scenario: Scenario,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    log: FrameLog,
) {
    let send = |frame: SentFrame| {
        let tx = tx.clone();
        let log = log.clone();
        async move {
            let bytes = match &frame.event {
                Some(event) => format!("event: {event}\ndata: {}\n\n", frame.data),
                None => format!("data: {}\n\n", frame.data),
            };
            log.lock().expect("frames").push((Instant::now(), frame));
            tx.send(Ok(Bytes::from(bytes))).await.is_ok()
        }
    };
    if !pause(&tx, scenario.time_to_first_token).await {
        return;
    }
    for frame in script.head() {
        if !send(frame).await {
            return;
        }
    }
    let count = scenario.tokens.len();
    for i in 0..=count {
        if i > 0 && i < count && !pause(&tx, scenario.inter_token_delay).await {
            return;
        }
        if scenario.cut_after == Some(i) {
            // A pause first, so the server flushes what was sent (it drops its write buffer
            // with the connection); then an error in the body makes it drop the connection.
            if !pause(&tx, Duration::from_millis(50)).await {
                return;
            }
            let _ = tx
                .send(Err(std::io::Error::other("fake upstream cut")))
                .await;
            return;
        }
        if scenario.hang_after == Some(i) {
            tx.closed().await;
            return;
        }
        if scenario.error_event_after == Some(i) {
            let _ = send(script.error_event()).await;
            return;
        }
        if let Some((after, bytes)) = &scenario.raw_after
            && *after == i
        {
            let _ = tx.send(Ok(bytes.clone())).await;
            return;
        }
        if let Some(token) = scenario.tokens.get(i)
            && !send(script.token(token)).await
        {
            return;
        }
    }
    for (i, image) in scenario.images.iter().enumerate() {
        for frame in script.image(i, image) {
            if !send(frame).await {
                return;
            }
        }
    }
    for frame in script.tail() {
        if !send(frame).await {
            return;
        }
    }
}

/// Sleeps, or returns false when the client went away meanwhile.
async fn pause(tx: &mpsc::Sender<Result<Bytes, std::io::Error>>, delay: Duration) -> bool {
    if delay.is_zero() {
        return !tx.is_closed();
    }
    tokio::select! {
        () = tokio::time::sleep(delay) => true,
        () = tx.closed() => false,
    }
}

/// The frames of one answer in a protocol's own shape, written the way the real services write
/// them (field order included), so relaying can be checked byte for byte.
struct Script {
    protocol: Protocol,
    model: String,
    usage: FakeUsage,
    text: String,
    sequence: u64,
}

impl Script {
    fn new(protocol: Protocol, model: String, scenario: &Scenario) -> Self {
        Self {
            protocol,
            model: json(&model),
            usage: scenario.usage,
            text: String::new(),
            sequence: 0,
        }
    }

    fn seq(&mut self) -> u64 {
        let n = self.sequence;
        self.sequence += 1;
        n
    }

    fn named(event: &str, data: String) -> SentFrame {
        SentFrame {
            event: Some(event.to_owned()),
            data,
        }
    }

    fn unnamed(data: String) -> SentFrame {
        SentFrame { event: None, data }
    }

    fn head(&mut self) -> Vec<SentFrame> {
        let model = &self.model;
        match self.protocol {
            Protocol::Responses => {
                let response = format!(
                    concat!(
                        r#"{{"id":"resp_fake","object":"response","created_at":1700000000,"#,
                        r#""status":"in_progress","model":{model},"output":[],"usage":null}}"#,
                    ),
                    model = model
                );
                let created = format!(
                    r#"{{"type":"response.created","sequence_number":{},"response":{response}}}"#,
                    self.seq()
                );
                let in_progress = format!(
                    r#"{{"type":"response.in_progress","sequence_number":{},"response":{response}}}"#,
                    self.seq()
                );
                let item_added = format!(
                    concat!(
                        r#"{{"type":"response.output_item.added","sequence_number":{seq},"#,
                        r#""output_index":0,"item":{{"id":"msg_fake","type":"message","#,
                        r#""status":"in_progress","content":[],"role":"assistant"}}}}"#,
                    ),
                    seq = self.seq()
                );
                let part_added = format!(
                    concat!(
                        r#"{{"type":"response.content_part.added","sequence_number":{seq},"#,
                        r#""item_id":"msg_fake","output_index":0,"content_index":0,"#,
                        r#""part":{{"type":"output_text","annotations":[],"text":""}}}}"#,
                    ),
                    seq = self.seq()
                );
                vec![
                    Self::named("response.created", created),
                    Self::named("response.in_progress", in_progress),
                    Self::named("response.output_item.added", item_added),
                    Self::named("response.content_part.added", part_added),
                ]
            }
            Protocol::Chat => vec![Self::unnamed(format!(
                concat!(
                    r#"{{"id":"chatcmpl-fake","object":"chat.completion.chunk","#,
                    r#""created":1700000000,"model":{model},"choices":[{{"index":0,"#,
                    r#""delta":{{"role":"assistant","content":""}},"finish_reason":null}}]}}"#,
                ),
                model = model
            ))],
            Protocol::Anthropic => vec![
                Self::named(
                    "message_start",
                    format!(
                        concat!(
                            r#"{{"type":"message_start","message":{{"id":"msg_fake01","#,
                            r#""type":"message","role":"assistant","model":{model},"content":[],"#,
                            r#""stop_reason":null,"stop_sequence":null,"#,
                            r#""usage":{{"input_tokens":{input},"output_tokens":1}}}}}}"#,
                        ),
                        model = model,
                        input = self.usage.input_tokens
                    ),
                ),
                Self::named(
                    "content_block_start",
                    concat!(
                        r#"{"type":"content_block_start","index":0,"#,
                        r#""content_block":{"type":"text","text":""}}"#,
                    )
                    .to_owned(),
                ),
                // Anthropic's pings carry a space; verbatim relaying must not care.
                Self::named("ping", r#"{"type": "ping"}"#.to_owned()),
            ],
        }
    }

    fn token(&mut self, token: &str) -> SentFrame {
        self.text.push_str(token);
        let delta = json(token);
        match self.protocol {
            Protocol::Responses => Self::named(
                "response.output_text.delta",
                format!(
                    concat!(
                        r#"{{"type":"response.output_text.delta","sequence_number":{seq},"#,
                        r#""item_id":"msg_fake","output_index":0,"content_index":0,"#,
                        r#""delta":{delta},"logprobs":[]}}"#,
                    ),
                    seq = self.seq(),
                    delta = delta
                ),
            ),
            Protocol::Chat => Self::unnamed(format!(
                concat!(
                    r#"{{"id":"chatcmpl-fake","object":"chat.completion.chunk","#,
                    r#""created":1700000000,"model":{model},"choices":[{{"index":0,"#,
                    r#""delta":{{"content":{delta}}},"finish_reason":null}}]}}"#,
                ),
                model = self.model,
                delta = delta
            )),
            Protocol::Anthropic => Self::named(
                "content_block_delta",
                format!(
                    concat!(
                        r#"{{"type":"content_block_delta","index":0,"#,
                        r#""delta":{{"type":"text_delta","text":{delta}}}}}"#,
                    ),
                    delta = delta
                ),
            ),
        }
    }

    /// The frames of the `index`th generated image (Responses API; other protocols have none).
    fn image(&mut self, index: usize, bytes: &[u8]) -> Vec<SentFrame> {
        use base64::Engine as _;
        if self.protocol != Protocol::Responses {
            return Vec::new();
        }
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        let output_index = index + 1;
        let partial = format!(
            concat!(
                r#"{{"type":"response.image_generation_call.partial_image","sequence_number":{seq},"#,
                r#""item_id":"ig_fake{index}","output_index":{output_index},"partial_image_index":0,"#,
                r#""partial_image_b64":"{b64}"}}"#,
            ),
            seq = self.seq(),
            index = index,
            output_index = output_index,
            b64 = b64,
        );
        let done = format!(
            concat!(
                r#"{{"type":"response.output_item.done","sequence_number":{seq},"output_index":{output_index},"#,
                r#""item":{{"id":"ig_fake{index}","type":"image_generation_call","status":"completed","#,
                r#""output_format":"png","result":"{b64}"}}}}"#,
            ),
            seq = self.seq(),
            index = index,
            output_index = output_index,
            b64 = b64,
        );
        vec![
            Self::named("response.image_generation_call.partial_image", partial),
            Self::named("response.output_item.done", done),
        ]
    }

    fn tail(&mut self) -> Vec<SentFrame> {
        let text = json(&self.text);
        let model = self.model.clone();
        let FakeUsage {
            input_tokens: input,
            output_tokens: output,
        } = self.usage;
        let total = input + output;
        match self.protocol {
            Protocol::Responses => {
                let item = format!(
                    concat!(
                        r#"{{"id":"msg_fake","type":"message","status":"completed","#,
                        r#""content":[{{"type":"output_text","annotations":[],"text":{text}}}],"#,
                        r#""role":"assistant"}}"#,
                    ),
                    text = text
                );
                let text_done = format!(
                    concat!(
                        r#"{{"type":"response.output_text.done","sequence_number":{seq},"#,
                        r#""item_id":"msg_fake","output_index":0,"content_index":0,"#,
                        r#""text":{text},"logprobs":[]}}"#,
                    ),
                    seq = self.seq(),
                    text = text
                );
                let part_done = format!(
                    concat!(
                        r#"{{"type":"response.content_part.done","sequence_number":{seq},"#,
                        r#""item_id":"msg_fake","output_index":0,"content_index":0,"#,
                        r#""part":{{"type":"output_text","annotations":[],"text":{text}}}}}"#,
                    ),
                    seq = self.seq(),
                    text = text
                );
                let item_done = format!(
                    r#"{{"type":"response.output_item.done","sequence_number":{},"output_index":0,"item":{item}}}"#,
                    self.seq()
                );
                let completed = format!(
                    concat!(
                        r#"{{"type":"response.completed","sequence_number":{seq},"#,
                        r#""response":{{"id":"resp_fake","object":"response","#,
                        r#""created_at":1700000000,"status":"completed","model":{model},"#,
                        r#""output":[{item}],"usage":{{"input_tokens":{input},"#,
                        r#""input_tokens_details":{{"cached_tokens":0}},"output_tokens":{output},"#,
                        r#""output_tokens_details":{{"reasoning_tokens":0}},"#,
                        r#""total_tokens":{total}}}}}}}"#,
                    ),
                    seq = self.seq(),
                    model = model,
                    item = item,
                    input = input,
                    output = output,
                    total = total
                );
                vec![
                    Self::named("response.output_text.done", text_done),
                    Self::named("response.content_part.done", part_done),
                    Self::named("response.output_item.done", item_done),
                    Self::named("response.completed", completed),
                ]
            }
            Protocol::Chat => vec![
                Self::unnamed(format!(
                    concat!(
                        r#"{{"id":"chatcmpl-fake","object":"chat.completion.chunk","#,
                        r#""created":1700000000,"model":{model},"choices":[{{"index":0,"#,
                        r#""delta":{{}},"finish_reason":"stop"}}]}}"#,
                    ),
                    model = model
                )),
                Self::unnamed(format!(
                    concat!(
                        r#"{{"id":"chatcmpl-fake","object":"chat.completion.chunk","#,
                        r#""created":1700000000,"model":{model},"choices":[],"#,
                        r#""usage":{{"prompt_tokens":{input},"completion_tokens":{output},"#,
                        r#""total_tokens":{total}}}}}"#,
                    ),
                    model = model,
                    input = input,
                    output = output,
                    total = total
                )),
                Self::unnamed("[DONE]".to_owned()),
            ],
            Protocol::Anthropic => vec![
                Self::named(
                    "content_block_stop",
                    r#"{"type":"content_block_stop","index":0}"#.to_owned(),
                ),
                Self::named(
                    "message_delta",
                    format!(
                        concat!(
                            r#"{{"type":"message_delta","#,
                            r#""delta":{{"stop_reason":"end_turn","stop_sequence":null}},"#,
                            r#""usage":{{"output_tokens":{output}}}}}"#,
                        ),
                        output = output
                    ),
                ),
                Self::named("message_stop", r#"{"type":"message_stop"}"#.to_owned()),
            ],
        }
    }

    fn error_event(&mut self) -> SentFrame {
        match self.protocol {
            Protocol::Responses => Self::named(
                "response.failed",
                format!(
                    concat!(
                        r#"{{"type":"response.failed","sequence_number":{seq},"#,
                        r#""response":{{"id":"resp_fake","object":"response","status":"failed","#,
                        r#""error":{{"code":"server_error","message":"The fake model failed."}},"#,
                        r#""usage":null}}}}"#,
                    ),
                    seq = self.seq()
                ),
            ),
            Protocol::Chat => Self::unnamed(
                r#"{"error":{"message":"The fake model failed.","code":502}}"#.to_owned(),
            ),
            Protocol::Anthropic => Self::named(
                "error",
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
                    .to_owned(),
            ),
        }
    }
}

/// A JSON string literal.
fn json(text: &str) -> String {
    serde_json::to_string(text).expect("a string serializes")
}
