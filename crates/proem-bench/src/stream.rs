//! The streaming run path. A fake upstream streams 64 tokens at a fixed interval; the same
//! traffic goes (1) straight to it, (2) through a minimal pass-through proxy built for the
//! comparison (one reqwest call relayed as a byte stream), (3) through Proem's `POST /run`
//! (authentication, rate limit, SQLite writes, SSE re-framing). Proem and the proxy each run on
//! their own single-threaded runtime: one core each.

use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use bytes::Bytes;
use futures::StreamExt;
use proem_testkit::{FakeUpstream, Scenario, TestServer};
use serde_json::json;

use crate::measure::{cpu_time, mean, ms, percentile, rss_bytes, sorted, us};

const TOKENS: usize = 64;

/// What one stream looked like to its client.
struct Trace {
    ttft: Duration,
    gaps: Vec<Duration>,
    frames: usize,
}

#[derive(Clone, Copy)]
enum Target {
    Direct,
    Proxy,
    Proem,
}

impl Target {
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

/// Starts the fake upstream (on the caller's runtime), the proxy and Proem (each on a
/// single-threaded runtime of its own thread).
async fn rig(upstream: &FakeUpstream) -> Rig {
    let upstream_url = upstream.base_url();
    let (tx, rx) = std_mpsc::channel();
    let target = upstream_url.clone();
    std::thread::spawn(move || {
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
    });
    let proxy_url = rx.recv().expect("proxy url");
    let (tx, rx) = std_mpsc::channel();
    let target = upstream_url.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("proem runtime");
        rt.block_on(async move {
            let server = TestServer::start_with(|c| {
                for p in c.providers.values_mut() {
                    p.base_url = target.clone();
                }
                let huge = u32::MAX / 2;
                c.rate_limits.read_per_key = huge;
                c.rate_limits.read_per_user = huge;
                c.rate_limits.execute_per_key = huge;
                c.rate_limits.execute_per_user = huge;
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
    });
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

impl Rig {
    fn request(&self, http: &reqwest::Client, target: Target) -> reqwest::RequestBuilder {
        let chat = json!({"model": "fake-model", "messages": [{"role": "user", "content": "an article"}], "stream": true});
        match target {
            Target::Direct => http
                .post(format!("{}/chat/completions", self.upstream_url))
                .json(&chat),
            Target::Proxy => http
                .post(format!("{}/chat/completions", self.proxy_url))
                .json(&chat),
            Target::Proem => http
                .post(format!(
                    "{}/api/v2/public/prompts/{}/run",
                    self.proem_url, self.prompt
                ))
                .header("x-api-key", &self.key)
                .json(&json!({"userInput": "an article", "stream": true, "autoFinalize": false})),
        }
    }
}

/// Whether an SSE frame carries a token: a Chat Completions chunk with content, or Proem's
/// `response.output_text.delta`.
fn is_token(frame: &str) -> bool {
    frame.contains("response.output_text.delta")
        || (frame.contains("\"choices\"")
            && frame.contains("\"content\":\"")
            && !frame.contains("\"content\":\"\""))
}

async fn one(http: &reqwest::Client, rig: &Rig, target: Target) -> Trace {
    let started = Instant::now();
    let response = rig.request(http, target).send().await.expect("send");
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    let mut last = None;
    let mut ttft = Duration::ZERO;
    let mut gaps = Vec::with_capacity(TOKENS);
    let mut frames = 0;
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else { break };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            if !is_token(&frame) {
                continue;
            }
            let now = Instant::now();
            match last {
                None => ttft = now - started,
                Some(previous) => gaps.push(now - previous),
            }
            last = Some(now);
            frames += 1;
        }
    }
    Trace { ttft, gaps, frames }
}

struct Summary {
    ttfts: Vec<Duration>,
    gaps: Vec<Duration>,
    complete: usize,
    runs: usize,
    cpu: Duration,
}

async fn sequential(
    upstream: &FakeUpstream,
    rig: &Rig,
    target: Target,
    runs: usize,
    interval: Duration,
) -> Summary {
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .expect("client");
    for _ in 0..5 {
        upstream.push(scenario(interval));
        one(&http, rig, target).await;
    }
    let cpu_before = cpu_time();
    let mut ttfts = Vec::new();
    let mut gaps = Vec::new();
    let mut complete = 0;
    for _ in 0..runs {
        upstream.push(scenario(interval));
        let trace = one(&http, rig, target).await;
        complete += usize::from(trace.frames == TOKENS);
        ttfts.push(trace.ttft);
        gaps.extend(trace.gaps);
    }
    Summary {
        ttfts: sorted(ttfts),
        gaps: sorted(gaps),
        complete,
        runs,
        cpu: cpu_time() - cpu_before,
    }
}

/// `n` streams at once at `interval`; returns (streams complete, stalls, RSS growth per stream).
async fn concurrent(
    upstream: &FakeUpstream,
    rig: &Rig,
    target: Target,
    n: usize,
    interval: Duration,
) -> (usize, usize, f64) {
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(n)
        .build()
        .expect("client");
    for _ in 0..n {
        upstream.push(scenario(interval));
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
    let traces = futures::future::join_all((0..n).map(|_| one(&http, rig, target))).await;
    sampler.abort();
    let complete = traces.iter().filter(|t| t.frames == TOKENS).count();
    // A stall: a gap between two tokens more than 4× the upstream's interval.
    let stalls = traces
        .iter()
        .filter(|t| t.gaps.iter().any(|g| *g > interval * 4))
        .count();
    let growth = peak
        .load(std::sync::atomic::Ordering::Relaxed)
        .saturating_sub(rss_before) as f64
        / n as f64;
    (complete, stalls, growth)
}

pub fn run(quick: bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let upstream = FakeUpstream::start().await;
        let rig = rig(&upstream).await;
        let runs = if quick { 20 } else { 200 };
        let interval = Duration::from_millis(2);
        println!("\n## Streaming run path: {TOKENS} tokens every {} per stream, {runs} sequential streams per target\n", ms(interval));
        let mut summaries = Vec::new();
        for target in [Target::Direct, Target::Proxy, Target::Proem] {
            summaries.push((target, sequential(&upstream, &rig, target, runs, interval).await));
        }
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
        for p in [50.0, 99.0] {
            let proxy = percentile(&summaries[1].1.ttfts, p);
            let proem = percentile(&summaries[2].1.ttfts, p);
            let base = percentile(&direct.ttfts, p);
            let (proxy_added, proem_added) = (proxy.saturating_sub(base), proem.saturating_sub(base));
            let ratio = if proxy_added.is_zero() {
                "n/a: the proxy added nothing measurable".to_owned()
            } else {
                format!("{:.2}×", proem_added.as_secs_f64() / proxy_added.as_secs_f64())
            };
            println!(
                "TTFT p{p:.0}: Proem / proxy {:.2}×; added over direct, Proem / proxy {ratio}.",
                proem.as_secs_f64() / proxy.as_secs_f64().max(1e-9)
            );
        }
        let slow = Duration::from_millis(20);
        let steps: &[usize] = if quick { &[100, 250] } else { &[250, 500, 1000, 1500] };
        println!("\n## Concurrent 50 tok/s streams through Proem (one core), {TOKENS} tokens each\n");
        println!("| streams | complete | with a stall (gap > 4× interval) | RSS growth per stream |");
        println!("| --- | --- | --- | --- |");
        for &n in steps {
            let (complete, stalls, growth) = concurrent(&upstream, &rig, Target::Proem, n, slow).await;
            println!("| {n} | {complete} | {stalls} | {:.1} KiB |", growth / 1024.0);
        }
        // The client and the fake share one thread: at the target's 1,000 streams, the harness's
        // own stalls say how far the Proem rows can be read as Proem's.
        for &n in &[steps[0], if quick { steps[1] } else { 1000 }] {
            let (complete, stalls, growth) = concurrent(&upstream, &rig, Target::Direct, n, slow).await;
            println!(
                "\nBaseline, {n} streams straight to the fake: {complete} complete, {stalls} with a stall, {:.1} KiB RSS per stream (client and fake).",
                growth / 1024.0
            );
        }
    });
}
