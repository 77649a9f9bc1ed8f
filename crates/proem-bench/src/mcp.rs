//! `tools/call` against the REST read it wraps: `proem_get_prompt` over Streamable HTTP and an
//! authenticated `GET /api/v2/public/prompts/{id}` of the same prompt, both measured in one run.
//! Both pass the same gate (key lookup, a rate-limit slot in SQLite, the activity row) and read
//! the same prompt, so the difference is what MCP adds: JSON-RPC, rmcp's session worker, the tool
//! dispatch, a result carrying the prompt twice (text and `structuredContent`) and SSE framing.
//!
//! Setup: Proem runs on a single-threaded runtime of its own thread (as in `stream`), the client
//! on one of its own; SQLite's worker threads come on top, so on two cores concurrency 16
//! saturates the machine. One reqwest client speaks raw HTTP to both doors and parses every answer
//! as JSON, so client overhead is the same. At concurrency N, N lanes call in a loop: for MCP each
//! lane is its own session (`initialize`, then `tools/call` with `Mcp-Session-Id`), as N agents
//! would be. The doors take turns in rounds, so a drift in the machine's speed lands on both, and
//! besides latency the CPU of every thread but the client's is counted per call: that figure
//! moves least with other load. Every answer is checked; a failed call is counted, not timed, and
//! fails the bench.

use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use proem_testkit::TestServer;
use serde_json::{Value, json};

use crate::measure::{cpu_time, percentile, short, sorted, thread_cpu_time};

/// A version with sessions (`initialize`), which is what MCP clients use today.
const PROTOCOL: &str = "2025-11-25";
const CONCURRENCY: [usize; 2] = [1, 16];
const WARM_UP_PER_LANE: usize = 20;

/// Where Proem listens and what a call needs.
struct Proem {
    url: String,
    key: String,
    prompt: String,
}

#[derive(Clone, Copy, PartialEq)]
enum Door {
    Rest,
    Mcp,
}

/// The doors in the order [`compare`] returns their samples.
const DOORS: [Door; 2] = [Door::Rest, Door::Mcp];

impl Door {
    fn name(self) -> &'static str {
        match self {
            Door::Rest => "REST `GET /api/v2/public/prompts/{id}`",
            Door::Mcp => "MCP `tools/call` `proem_get_prompt`",
        }
    }
}

/// One client's way in: for MCP, the session it initialized.
struct Lane {
    door: Door,
    session: Option<String>,
}

/// What one door at one concurrency measured, summed over the rounds.
#[derive(Default)]
struct Sample {
    latencies: Vec<Duration>,
    busy: Duration,
    /// CPU time of every thread but the client's: Proem's runtime and its SQLite workers.
    server_cpu: Duration,
    errors: usize,
    first_error: Option<String>,
}

impl Sample {
    fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.busy.as_secs_f64().max(1e-9)
    }

    fn cpu_per_call(&self) -> Duration {
        self.server_cpu / u32::try_from(self.latencies.len().max(1)).unwrap_or(u32::MAX)
    }
}

pub fn run(quick: bool) {
    let proem = start_proem();
    let (calls, rounds) = if quick { (640, 2) } else { (6400, 8) };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .expect("client");
    let rows: Vec<(usize, [Sample; 2])> = CONCURRENCY
        .into_iter()
        .map(|c| {
            (
                c,
                runtime.block_on(compare(&http, &proem, c, calls, rounds)),
            )
        })
        .collect();
    print_table(&rows, calls, rounds);
    let mut failed = 0;
    for (concurrency, samples) in &rows {
        for (door, s) in DOORS.into_iter().zip(samples) {
            failed += s.errors;
            if let Some(e) = &s.first_error {
                eprintln!("{} at {concurrency}: {e}", door.name());
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} calls failed: the figures above are not valid");
        std::process::exit(1);
    }
}

/// Proem on a single-threaded runtime of its own thread, with rate limits out of the way.
fn start_proem() -> Proem {
    let (tx, rx) = std_mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("proem runtime");
        rt.block_on(async move {
            let server = TestServer::start_with(crate::unthrottled).await;
            let (_, key) = server.user_with_key(&["read", "execute", "write"]).await;
            let prompt = server.create_prompt(&key, "bench").await;
            tx.send(Proem {
                url: server.url.clone(),
                key,
                prompt,
            })
            .expect("send proem");
            // Serve until the process ends.
            std::future::pending::<()>().await;
            drop(server);
        });
    });
    rx.recv().expect("proem")
}

/// REST and MCP at `concurrency`, `calls` each, in `rounds` that alternate which door goes
/// first.
async fn compare(
    http: &reqwest::Client,
    proem: &Proem,
    concurrency: usize,
    calls: usize,
    rounds: usize,
) -> [Sample; 2] {
    let lanes = [
        warm_lanes(http, proem, DOORS[0], concurrency).await,
        warm_lanes(http, proem, DOORS[1], concurrency).await,
    ];
    let mut samples = [Sample::default(), Sample::default()];
    for round in 0..rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for door in order {
            burst(
                http,
                proem,
                &lanes[door],
                calls / rounds,
                &mut samples[door],
            )
            .await;
        }
    }
    samples.map(|mut s| {
        s.latencies = sorted(s.latencies);
        s
    })
}

/// `concurrency` lanes on `door`, each warmed up.
async fn warm_lanes(
    http: &reqwest::Client,
    proem: &Proem,
    door: Door,
    concurrency: usize,
) -> Vec<Lane> {
    let mut lanes = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        lanes.push(open(http, proem, door).await);
    }
    join_all(lanes.iter().map(|lane| async move {
        for _ in 0..WARM_UP_PER_LANE {
            let _ = call(http, proem, lane).await;
        }
    }))
    .await;
    lanes
}

/// `calls` calls spread evenly over `lanes`, all calling at once; added to `sample`.
async fn burst(
    http: &reqwest::Client,
    proem: &Proem,
    lanes: &[Lane],
    calls: usize,
    sample: &mut Sample,
) {
    let per_lane = calls / lanes.len();
    // The client runs on this thread, so the rest of the process's CPU is the server's.
    let cpu_before = cpu_time().saturating_sub(thread_cpu_time());
    let started = Instant::now();
    let results = join_all(lanes.iter().map(|lane| async move {
        let mut timed = Vec::with_capacity(per_lane);
        let mut failures = Vec::new();
        for _ in 0..per_lane {
            let t = Instant::now();
            match call(http, proem, lane).await {
                Ok(()) => timed.push(t.elapsed()),
                Err(e) => failures.push(e),
            }
        }
        (timed, failures)
    }))
    .await;
    sample.busy += started.elapsed();
    sample.server_cpu += cpu_time()
        .saturating_sub(thread_cpu_time())
        .saturating_sub(cpu_before);
    for (timed, failures) in results {
        sample.latencies.extend(timed);
        sample.errors += failures.len();
        if sample.first_error.is_none() {
            sample.first_error = failures.into_iter().next();
        }
    }
}

/// A lane on `door`: for MCP, `initialize` and `notifications/initialized` on a new session.
async fn open(http: &reqwest::Client, proem: &Proem, door: Door) -> Lane {
    if door == Door::Rest {
        return Lane {
            door,
            session: None,
        };
    }
    let response = mcp_post(
        http,
        proem,
        None,
        &json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": PROTOCOL, "capabilities": {},
                       "clientInfo": {"name": "proem-bench", "version": "1"}},
        }),
    )
    .send()
    .await
    .expect("initialize");
    assert!(
        response.status().is_success(),
        "initialize: {}",
        response.status()
    );
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .expect("Mcp-Session-Id");
    let init = rpc_answer(response, 0).await.expect("initialize answer");
    assert_eq!(init["result"]["protocolVersion"], PROTOCOL, "{init}");
    let done = mcp_post(
        http,
        proem,
        Some(&session),
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .send()
    .await
    .expect("initialized");
    assert_eq!(done.status(), 202, "notifications/initialized");
    Lane {
        door,
        session: Some(session),
    }
}

fn mcp_post(
    http: &reqwest::Client,
    proem: &Proem,
    session: Option<&str>,
    body: &Value,
) -> reqwest::RequestBuilder {
    let mut request = http
        .post(format!("{}/mcp", proem.url))
        .bearer_auth(&proem.key)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(sid) = session {
        request = request
            .header("mcp-session-id", sid)
            .header("mcp-protocol-version", PROTOCOL);
    }
    request
}

/// One read of the prompt through the lane's door; `Err` says what was wrong with the answer.
async fn call(http: &reqwest::Client, proem: &Proem, lane: &Lane) -> Result<(), String> {
    let read = match lane.door {
        Door::Rest => {
            let response = http
                .get(format!(
                    "{}/api/v2/public/prompts/{}",
                    proem.url, proem.prompt
                ))
                .header("x-api-key", &proem.key)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status();
            let body = response.bytes().await.map_err(|e| e.to_string())?;
            if !status.is_success() {
                return Err(format!("{status}: {}", String::from_utf8_lossy(&body)));
            }
            serde_json::from_slice::<Value>(&body).map_err(|e| e.to_string())?
        }
        Door::Mcp => {
            let response = mcp_post(
                http,
                proem,
                lane.session.as_deref(),
                &json!({
                    "jsonrpc": "2.0", "id": 1, "method": "tools/call",
                    "params": {"name": "proem_get_prompt", "arguments": {"promptId": proem.prompt}},
                }),
            )
            .send()
            .await
            .map_err(|e| e.to_string())?;
            let answer = rpc_answer(response, 1).await?;
            let result = &answer["result"];
            if answer.get("error").is_some() || result["isError"] == true {
                return Err(answer.to_string());
            }
            result["structuredContent"].clone()
        }
    };
    if read["id"] != proem.prompt.as_str() {
        return Err(format!("not the prompt: {read}"));
    }
    Ok(())
}

/// The JSON-RPC message answering request `id`, from a JSON body or an SSE stream (whose other
/// events, such as a priming event, carry no message with that id).
async fn rpc_answer(response: reqwest::Response, id: i64) -> Result<Value, String> {
    let status = response.status();
    let sse = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let text = response.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {text}"));
    }
    if !sse {
        return serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"));
    }
    text.split("\n\n")
        .filter_map(|event| {
            let data: String = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            serde_json::from_str::<Value>(&data).ok()
        })
        .find(|m| m["id"] == id)
        .ok_or_else(|| format!("no answer to request {id} in: {text}"))
}

fn print_table(rows: &[(usize, [Sample; 2])], calls: usize, rounds: usize) {
    println!("\n## MCP `tools/call` against the same read over REST\n");
    println!("| request | concurrency | calls/s | p50 | p99 | Proem CPU per call | errors |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (concurrency, [rest, mcp]) in rows {
        for (door, s) in DOORS.into_iter().zip([rest, mcp]) {
            println!(
                "| {} | {concurrency} | {:.0} | {} | {} | {} | {} |",
                door.name(),
                s.per_second(),
                short(percentile(&s.latencies, 50.0)),
                short(percentile(&s.latencies, 99.0)),
                short(s.cpu_per_call()),
                s.errors
            );
        }
        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-9);
        let at = |s: &Sample, p: f64| percentile(&s.latencies, p);
        println!(
            "| MCP / REST | {concurrency} | {:.2}× | {:.2}× | {:.2}× | {:.2}× | |",
            mcp.per_second() / rest.per_second().max(1e-9),
            ratio(at(mcp, 50.0), at(rest, 50.0)),
            ratio(at(mcp, 99.0), at(rest, 99.0)),
            ratio(mcp.cpu_per_call(), rest.cpu_per_call()),
        );
    }
    println!(
        "\n({calls} calls per row in {rounds} rounds alternating REST and MCP, after a warm-up; \
         client and Proem on the same machine. Proem CPU: every thread but the client's.)"
    );
}
