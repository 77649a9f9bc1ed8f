//! The streaming run path. A fake upstream streams 64 tokens at a fixed interval; the same
//! traffic goes (1) straight to it, (2) through a minimal pass-through proxy built for the
//! comparison (one reqwest call relayed as a byte stream), (3) through Proem's `POST /run`
//! (authentication, rate limit, SQLite writes, SSE re-framing). Proem and the proxy each run on
//! a single-threaded runtime of their own; with two cores or more, both servers are pinned to
//! one core and the harness (client and fake) to another, so the harness never takes a server's
//! core mid-run (`--no-pin` leaves placement to the scheduler). Then crowds of concurrent
//! 50 tok/s streams take all three ways, and every token's delay from the fake's send to the
//! client is measured.

mod raw_client;

use std::collections::HashMap;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use bytes::Bytes;
use core_affinity::CoreId;
use futures::StreamExt;
use proem_testkit::{FakeUpstream, Scenario, TestServer};
use serde_json::json;

use crate::measure::{cpu_time, mean, ms, percentile, rss_bytes, sorted, threads_cpu_time, us};

const TOKENS: usize = 64;
/// Tokens per stream in the concurrency rounds: at 50 tok/s, 2.56 s, of which every stream is
/// open for the last 1.56 s of the ramp.
const CROWD_TOKENS: usize = 128;
/// Streams of a concurrency round open evenly over this long, as traffic would arrive.
const RAMP: Duration = Duration::from_secs(1);

/// What one stream looked like to its client.
struct Trace {
    ttft: Duration,
    gaps: Vec<Duration>,
    frames: usize,
    /// Each token's text and when the client had it.
    received: Vec<(String, Instant)>,
}

#[derive(Clone, Copy)]
enum Target {
    Direct,
    Proxy,
    Proem,
}

impl Target {
    /// The threads that serve this target, on the servers' core: Proem's runtime and its
    /// database threads, or the proxy's runtime; none for the fake alone.
    fn server_threads(self) -> &'static [&'static str] {
        match self {
            Target::Direct => &[],
            Target::Proxy => &["proxy"],
            Target::Proem => &["proem", "sqlx-sqlite*"],
        }
    }

    fn name(self) -> &'static str {
        match self {
            Target::Direct => "fake upstream, direct",
            Target::Proxy => "minimal pass-through proxy",
            Target::Proem => "Proem POST /run",
        }
    }
}

/// Addresses of the three ways in, plus what a Proem request needs.
struct Rig {
    upstream_url: String,
    proxy_url: String,
    proem_url: String,
    key: String,
    prompt: String,
}

fn scenario(interval: Duration) -> Scenario {
    Scenario::text((0..TOKENS).map(|i| format!("t{i} "))).with_inter_token_delay(interval)
}

/// A scenario whose tokens name their stream (`s{stream}t{i} `), so each token the client
/// receives can be matched with the instant the fake sent it.
fn tagged(stream: usize, tokens: usize, interval: Duration) -> Scenario {
    Scenario::text((0..tokens).map(|i| format!("s{stream}t{i} "))).with_inter_token_delay(interval)
}

/// Cores for the two sides of the bench: the servers under test (Proem and the proxy, which
/// never stream at the same time) and the harness (client and fake upstream).
#[derive(Clone, Copy)]
pub struct Placement {
    servers: CoreId,
    harness: CoreId,
}

impl Placement {
    /// The first core for the servers and the last for the harness; `None` on one core.
    pub fn pinned() -> Option<Self> {
        let cores = core_affinity::get_core_ids()?;
        match (cores.first(), cores.last()) {
            (Some(&servers), Some(&harness)) if cores.len() > 1 => Some(Self { servers, harness }),
            _ => None,
        }
    }

    pub fn describe(placement: Option<Self>) -> String {
        match placement {
            Some(p) => format!(
                "servers pinned to core {}, harness to core {}",
                p.servers.id, p.harness.id
            ),
            None => "threads placed by the scheduler".to_owned(),
        }
    }
}

/// Pins the calling thread (and the threads it starts later, which inherit it) to `core`.
fn pin(core: Option<CoreId>) {
    if let Some(core) = core
        && !core_affinity::set_for_current(core)
    {
        eprintln!("could not pin a thread to core {}", core.id);
    }
}

/// Starts the fake upstream (on the caller's runtime), the proxy and Proem (each on a
/// single-threaded runtime of its own thread, on the servers' core).
async fn rig(upstream: &FakeUpstream, placement: Option<Placement>) -> Rig {
    let upstream_url = upstream.base_url();
    let (tx, rx) = std_mpsc::channel();
    let target = upstream_url.clone();
    let servers = placement.map(|p| p.servers);
    std::thread::Builder::new()
        .name("proxy".into())
        .spawn(move || {
            pin(servers);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("proxy runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind proxy");
                let addr = listener.local_addr().expect("proxy addr");
                tx.send(format!("http://{addr}/v1"))
                    .expect("send proxy url");
                let http = reqwest::Client::builder()
                    .tcp_nodelay(true)
                    .build()
                    .expect("proxy client");
                let app = Router::new()
                    .route("/v1/chat/completions", post(relay))
                    .with_state((http, target));
                use axum::serve::ListenerExt;
                let listener = listener.tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                let _ = axum::serve(listener, app).await;
            });
        })
        .expect("thread");
    let proxy_url = rx.recv().expect("proxy url");
    let (tx, rx) = std_mpsc::channel();
    let target = upstream_url.clone();
    std::thread::Builder::new()
        .name("proem".into())
        .spawn(move || {
            // Its database threads start from here and share the core.
            pin(servers);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("proem runtime");
            rt.block_on(async move {
                let server = TestServer::start_with(|c| {
                    for p in c.providers.values_mut() {
                        p.base_url = target.clone();
                    }
                    crate::unthrottled(c);
                })
                .await;
                let (_, key) = server.user_with_key(&["read", "execute", "write"]).await;
                let prompt = server.create_prompt(&key, "bench").await;
                tx.send((server.url.clone(), key, prompt))
                    .expect("send proem");
                // Serve until the process ends.
                std::future::pending::<()>().await;
                drop(server);
            });
        })
        .expect("thread");
    let (proem_url, key, prompt) = rx.recv().expect("proem");
    Rig {
        upstream_url,
        proxy_url,
        proem_url,
        key,
        prompt,
    }
}

async fn relay(
    State((http, target)): State<(reqwest::Client, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut request = http.post(format!("{target}/chat/completions")).body(body);
    if let Some(ct) = headers.get("content-type") {
        request = request.header("content-type", ct.clone());
    }
    match request.send().await {
        Ok(upstream) => {
            let mut response = Response::new(Body::from_stream(upstream.bytes_stream()));
            response.headers_mut().insert(
                "content-type",
                axum::http::HeaderValue::from_static("text/event-stream"),
            );
            response
        }
        Err(_) => Response::new(Body::empty()),
    }
}

/// One target's request: its URL, the API key header it needs, and its JSON body.
struct Call<'a> {
    url: String,
    key: Option<&'a str>,
    body: serde_json::Value,
}

impl Rig {
    fn call(&self, target: Target) -> Call<'_> {
        let chat = json!({"model": "fake-model", "messages": [{"role": "user", "content": "an article"}], "stream": true});
        match target {
            Target::Direct => Call {
                url: format!("{}/chat/completions", self.upstream_url),
                key: None,
                body: chat,
            },
            Target::Proxy => Call {
                url: format!("{}/chat/completions", self.proxy_url),
                key: None,
                body: chat,
            },
            Target::Proem => Call {
                url: format!(
                    "{}/api/v2/public/prompts/{}/run",
                    self.proem_url, self.prompt
                ),
                key: Some(&self.key),
                body: json!({"userInput": "an article", "stream": true, "autoFinalize": false}),
            },
        }
    }

    fn request(&self, http: &reqwest::Client, target: Target) -> reqwest::RequestBuilder {
        let call = self.call(target);
        let request = http.post(call.url).json(&call.body);
        match call.key {
            Some(key) => request.header("x-api-key", key),
            None => request,
        }
    }

    /// The same request for the bare-socket client of the crowd rounds.
    fn raw_request(&self, target: Target) -> raw_client::Request {
        let call = self.call(target);
        let headers: Vec<(&str, &str)> = call.key.map(|k| ("x-api-key", k)).into_iter().collect();
        raw_client::Request::post(&call.url, &headers, &call.body)
    }
}

/// The tagged token (`s…t… `) in a frame, if any: in a Chat Completions chunk's `content` or in
/// Proem's `delta`, the JSON string that starts with `s` and a digit.
fn tag_of(frame: &str) -> Option<&str> {
    let mut rest = frame;
    while let Some(at) = rest.find("\"s") {
        let candidate = &rest[at + 1..];
        if candidate.as_bytes().get(1).is_some_and(u8::is_ascii_digit) {
            return candidate.find('"').map(|end| &candidate[..end]);
        }
        rest = candidate;
    }
    None
}

/// Whether an SSE frame carries a token: a Chat Completions chunk with content, or Proem's
/// `response.output_text.delta`.
fn is_token(frame: &str) -> bool {
    frame.contains("response.output_text.delta")
        || (frame.contains("\"choices\"")
            && frame.contains("\"content\":\"")
            && !frame.contains("\"content\":\"\""))
}

/// A client's view of one stream, frame by frame.
struct Reader {
    started: Instant,
    last: Option<Instant>,
    trace: Trace,
}

impl Reader {
    fn new(started: Instant) -> Self {
        Self {
            started,
            last: None,
            trace: Trace {
                ttft: Duration::ZERO,
                gaps: Vec::with_capacity(TOKENS),
                frames: 0,
                received: Vec::new(),
            },
        }
    }

    /// One SSE frame (or a frame with the chunk framing of the body around it) as it arrives.
    fn frame(&mut self, frame: &str) {
        if !is_token(frame) {
            return;
        }
        let now = Instant::now();
        match self.last {
            None => self.trace.ttft = now - self.started,
            Some(previous) => self.trace.gaps.push(now - previous),
        }
        self.last = Some(now);
        self.trace.frames += 1;
        if let Some(tag) = tag_of(frame) {
            self.trace.received.push((tag.to_owned(), now));
        }
    }
}

async fn one(http: &reqwest::Client, rig: &Rig, target: Target) -> Trace {
    let mut reader = Reader::new(Instant::now());
    let response = rig.request(http, target).send().await.expect("send");
    let mut body = response.bytes_stream();
    let mut buffer = Vec::new();
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else { break };
        buffer.extend_from_slice(&chunk);
        let consumed = frames_in(&buffer, |frame| reader.frame(frame));
        buffer.drain(..consumed);
    }
    reader.trace
}

/// Hands each complete frame (up to its blank line) in `buffer` to `each`; returns the bytes
/// consumed.
fn frames_in(buffer: &[u8], mut each: impl FnMut(&str)) -> usize {
    let mut start = 0;
    while let Some(end) = buffer[start..].windows(2).position(|w| w == b"\n\n") {
        each(&String::from_utf8_lossy(&buffer[start..start + end]));
        start += end + 2;
    }
    start
}

struct Summary {
    ttfts: Vec<Duration>,
    /// Each TTFT less the fake's own time to its first token (from its receipt of the request
    /// to its send of the token; see [`fake_think`]).
    net_ttfts: Vec<Duration>,
    gaps: Vec<Duration>,
    complete: usize,
    runs: usize,
    cpu: Duration,
}

/// `runs` streams one after another for each target, the targets taking turns so that whatever
/// else the machine does in the meantime falls on all three alike. Each stream's process CPU time
/// counts for its target.
async fn sequential(
    upstream: &FakeUpstream,
    rig: &Rig,
    runs: usize,
    interval: Duration,
) -> Vec<(Target, Summary)> {
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .expect("client");
    let targets = [Target::Direct, Target::Proxy, Target::Proem];
    for target in targets {
        for _ in 0..5 {
            upstream.push(scenario(interval));
            one(&http, rig, target).await;
        }
    }
    let mut summaries: Vec<_> = targets
        .into_iter()
        .map(|target| {
            let summary = Summary {
                ttfts: Vec::with_capacity(runs),
                net_ttfts: Vec::with_capacity(runs),
                gaps: Vec::new(),
                complete: 0,
                runs,
                cpu: Duration::ZERO,
            };
            (target, summary)
        })
        .collect();
    for _ in 0..runs {
        for (target, s) in &mut summaries {
            upstream.push(scenario(interval));
            let cpu_before = cpu_time();
            let trace = one(&http, rig, *target).await;
            s.cpu += cpu_time() - cpu_before;
            s.complete += usize::from(trace.frames == TOKENS);
            s.ttfts.push(trace.ttft);
            s.net_ttfts
                .push(trace.ttft.saturating_sub(fake_think(upstream)));
            s.gaps.extend(trace.gaps);
        }
    }
    for (_, s) in &mut summaries {
        s.ttfts = sorted(std::mem::take(&mut s.ttfts));
        s.net_ttfts = sorted(std::mem::take(&mut s.net_ttfts));
        s.gaps = sorted(std::mem::take(&mut s.gaps));
    }
    summaries
}

/// The fake's own time to the first token of the stream it just played, from its handler having
/// the request to its sending the token: none of a server's doing, since the fake's answer starts
/// at once. The fake runs on the harness's core, and when that core stalls (a few milliseconds,
/// a few runs in 500, whichever target is running), the stall shows here, which lets the bench
/// also compare the targets without the stalls that fall inside the fake's answer.
fn fake_think(upstream: &FakeUpstream) -> Duration {
    let received = upstream.last_request().map(|r| r.received_at);
    let first_token = upstream
        .take_sent_streams()
        .pop()
        .and_then(|frames| frames.into_iter().find(|(_, f)| is_token(&f.data)))
        .map(|(at, _)| at);
    match (received, first_token) {
        (Some(received), Some(sent)) => sent.saturating_duration_since(received),
        _ => Duration::ZERO,
    }
}

/// How `n` concurrent streams fared.
struct Crowd {
    /// Streams that got every token.
    complete: usize,
    /// For every token: from the fake sending it to the client having it.
    delays: Vec<Duration>,
    /// Streams with at least one token held longer than the stall threshold.
    held: usize,
    /// Peak resident memory growth per stream.
    rss_per_stream: f64,
    /// Share of one core the target's server threads used while every stream was open.
    server_busy: Option<f64>,
    /// The server threads' CPU time over the whole round (opening, relaying and storing every
    /// stream) per token relayed: unlike the busy share, the same whether or not the core
    /// saturated, and read over seconds rather than a stretch of 10 ms ticks.
    server_cpu_per_token: Option<Duration>,
}

/// `n` streams of [`CROWD_TOKENS`] tokens at `interval`, opened evenly over [`RAMP`] so that all
/// of them are open together for most of their length. A stream is held up when one of its
/// tokens reaches the client more than 4× the interval after the fake sent it: measured from
/// the send, so a fake that is itself late (its timers share the harness's core) does not count
/// against the target.
async fn concurrent(
    upstream: &FakeUpstream,
    rig: &Rig,
    target: Target,
    n: usize,
    interval: Duration,
) -> Crowd {
    let request = rig.raw_request(target);
    upstream.take_sent_streams();
    for stream in 0..n {
        upstream.push(tagged(stream, CROWD_TOKENS, interval));
    }
    let rss_before = rss_bytes();
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(rss_before));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_bytes(), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    // CPU of the server's threads from the moment the last stream opens to just before the first
    // one ends: the stretch when all `n` are open together.
    let threads = target.server_threads();
    let busy = (!threads.is_empty()).then(|| {
        let full_from = RAMP + Duration::from_millis(100);
        let full_until =
            interval * u32::try_from(CROWD_TOKENS).unwrap_or(u32::MAX) - Duration::from_millis(100);
        tokio::spawn(async move {
            tokio::time::sleep(full_from).await;
            let (cpu, at) = (threads_cpu_time(threads), Instant::now());
            tokio::time::sleep(full_until.saturating_sub(full_from)).await;
            (threads_cpu_time(threads) - cpu).as_secs_f64() / at.elapsed().as_secs_f64()
        })
    });
    let round_cpu = (!threads.is_empty()).then(|| threads_cpu_time(threads));
    let traces = futures::future::join_all((0..n).map(|i| {
        let request = &request;
        async move {
            tokio::time::sleep(
                RAMP * u32::try_from(i).unwrap_or(0) / u32::try_from(n).unwrap_or(1),
            )
            .await;
            raw_client::one(request).await
        }
    }))
    .await;
    let tokens = u32::try_from(n * CROWD_TOKENS).unwrap_or(u32::MAX).max(1);
    let server_cpu_per_token =
        round_cpu.map(|before| (threads_cpu_time(threads) - before) / tokens);
    sampler.abort();
    let server_busy = match busy {
        Some(busy) => busy.await.ok(),
        None => None,
    };
    let sent: HashMap<String, Instant> = upstream
        .take_sent_streams()
        .into_iter()
        .flatten()
        .filter_map(|(at, frame)| tag_of(&frame.data).map(|t| (t.to_owned(), at)))
        .collect();
    let mut delays = Vec::with_capacity(n * TOKENS);
    let mut held = 0;
    for trace in &traces {
        let mut worst = Duration::ZERO;
        for (tag, at) in &trace.received {
            if let Some(sent_at) = sent.get(tag) {
                let delay = at.saturating_duration_since(*sent_at);
                worst = worst.max(delay);
                delays.push(delay);
            }
        }
        held += usize::from(worst > interval * 4);
    }
    Crowd {
        complete: traces.iter().filter(|t| t.frames == CROWD_TOKENS).count(),
        delays: sorted(delays),
        held,
        rss_per_stream: peak
            .load(std::sync::atomic::Ordering::Relaxed)
            .saturating_sub(rss_before) as f64
            / n as f64,
        server_busy,
        server_cpu_per_token,
    }
}

/// How the stream part runs.
pub struct Options {
    pub quick: bool,
    /// Sequential streams per target: 500 unless set (20 when quick).
    pub runs: Option<usize>,
    /// Only the concurrency round of this many streams, so one size can be measured with
    /// nothing run before it in the process.
    pub crowd: Option<usize>,
    /// Only the sequential streams.
    pub sequential_only: bool,
    pub placement: Option<Placement>,
    /// Between two tokens of a crowd's stream: 20 ms (50 tok/s) unless set. Slower streams let
    /// a crowd run under valgrind without overloading it (`instructions.sh`).
    pub crowd_interval: Duration,
}

/// The whole part: the sequential streams, then the concurrency rounds.
pub fn run(options: Options) {
    let Options {
        quick,
        runs,
        crowd,
        sequential_only,
        placement,
        crowd_interval,
    } = options;
    // The harness runtime's threads start from this one.
    pin(placement.map(|p| p.harness));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let upstream = FakeUpstream::start().await;
        let rig = rig(&upstream, placement).await;
        println!("\nThread placement: {}.", Placement::describe(placement));
        if let Some(n) = crowd {
            crowd_rounds(&upstream, &rig, &[n], crowd_interval).await;
            return;
        }
        // 500 runs per target put five samples beyond each p99, where 200 put two.
        let runs = runs.unwrap_or(if quick { 20 } else { 500 });
        let interval = Duration::from_millis(2);
        println!("\n## Streaming run path: {TOKENS} tokens every {} per stream, {runs} sequential streams per target, the targets taking turns\n", ms(interval));
        let summaries = sequential(&upstream, &rig, runs, interval).await;
        let direct = &summaries[0].1;
        println!("| target | TTFT p50 | TTFT p99 | added TTFT p50 | added TTFT p99 | mean gap | added gap | frames 1:1 | CPU per frame (added) |");
        println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        for (target, s) in &summaries {
            let frames = (s.runs * TOKENS) as u32;
            let added_cpu = s.cpu.saturating_sub(direct.cpu) / frames.max(1);
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {}/{} | {} |",
                target.name(),
                ms(percentile(&s.ttfts, 50.0)),
                ms(percentile(&s.ttfts, 99.0)),
                us(percentile(&s.ttfts, 50.0).saturating_sub(percentile(&direct.ttfts, 50.0))),
                us(percentile(&s.ttfts, 99.0).saturating_sub(percentile(&direct.ttfts, 99.0))),
                us(mean(&s.gaps)),
                us(mean(&s.gaps).saturating_sub(mean(&direct.gaps))),
                s.complete,
                s.runs,
                us(added_cpu),
            );
        }
        for p in [50.0, 90.0, 99.0] {
            let ttfts = |s: &Summary| percentile(&s.ttfts, p);
            let (whole, added) = ratios(&summaries, ttfts);
            let net = |s: &Summary| percentile(&s.net_ttfts, p);
            let (_, net_added) = ratios(&summaries, net);
            println!(
                "TTFT p{p:.0}: Proem / proxy {whole}; added over direct, Proem / proxy {added}; the same net of the fake's own time to its first token {net_added}."
            );
        }
        if sequential_only {
            return;
        }
        let steps: &[usize] = if quick { &[100, 250] } else { &[250, 500, 1000, 1500] };
        crowd_rounds(&upstream, &rig, steps, crowd_interval).await;
    });
}

/// Proem's figure over the proxy's, and the same of what each adds to the direct figure, of one
/// statistic of the three targets' summaries (direct, proxy, Proem).
fn ratios(summaries: &[(Target, Summary)], of: impl Fn(&Summary) -> Duration) -> (String, String) {
    let [direct, proxy, proem] = [0, 1, 2].map(|i| of(&summaries[i].1));
    let whole = format!(
        "{:.2}×",
        proem.as_secs_f64() / proxy.as_secs_f64().max(1e-9)
    );
    let (proxy_added, proem_added) = (proxy.saturating_sub(direct), proem.saturating_sub(direct));
    let added = if proxy_added.is_zero() {
        "n/a: the proxy added nothing measurable".to_owned()
    } else {
        format!(
            "{:.2}×",
            proem_added.as_secs_f64() / proxy_added.as_secs_f64()
        )
    };
    (whole, added)
}

/// Concurrency rounds of each size in `steps`, through Proem, the proxy and straight to the fake.
async fn crowd_rounds(upstream: &FakeUpstream, rig: &Rig, steps: &[usize], slow: Duration) {
    println!(
        "\n## Concurrent {:.0} tok/s streams, {CROWD_TOKENS} tokens each, opened over {}: through Proem, through the proxy (one core each), and straight to the fake\n",
        1.0 / slow.as_secs_f64(),
        ms(RAMP)
    );
    println!(
        "Delay: from the fake sending a token to the client having it. Held: streams with a token delayed over {} (4× the interval).\n",
        ms(slow * 4)
    );
    println!(
        "Server core busy: the share of one core the target's server threads used while every stream was open; streams per core: the streams over that share; server CPU per token: the server threads' CPU time over the whole round (opening, relaying, storing) over the tokens relayed.\n"
    );
    println!(
        "| streams | target | complete | delay p50 | delay p99 | delay max | held | server core busy | streams per core | server CPU per token | RSS growth per stream |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for &n in steps {
        for target in [Target::Proem, Target::Proxy, Target::Direct] {
            let crowd = concurrent(upstream, rig, target, n, slow).await;
            let (busy, per_core) = match crowd.server_busy {
                Some(b) if b > 0.0 => {
                    (format!("{:.0}%", b * 100.0), format!("{:.0}", n as f64 / b))
                }
                _ => ("—".to_owned(), "—".to_owned()),
            };
            let per_token = crowd.server_cpu_per_token.map_or("—".to_owned(), us);
            println!(
                "| {n} | {} | {}/{n} | {} | {} | {} | {} | {busy} | {per_core} | {per_token} | {:.1} KiB |",
                target.name(),
                crowd.complete,
                ms(percentile(&crowd.delays, 50.0)),
                ms(percentile(&crowd.delays, 99.0)),
                ms(crowd.delays.last().copied().unwrap_or_default()),
                crowd.held,
                crowd.rss_per_stream / 1024.0
            );
        }
    }
}
