//! The gate every API request passes: authentication (SHA-256 lookup, cached), the per-key and
//! per-user rate-limit windows in SQLite, the activity row, and for mutations the idempotency
//! row. Compared in the same run with `/healthz`, which skips all of it.

use std::time::{Duration, Instant};

use proem_testkit::TestServer;

use crate::measure::{percentile, sorted, us};

struct Sample {
    name: &'static str,
    latencies: Vec<Duration>,
    per_second: f64,
}

pub fn run(quick: bool) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let server = TestServer::start_with(crate::unthrottled).await;
        let (_, key) = server.user_with_key(&["read", "write"]).await;
        let n = if quick { 300 } else { 3000 };
        let health = sample(
            &server,
            &key,
            "GET /healthz (no gate)",
            n,
            |http, url, _| http.get(format!("{url}/healthz")),
        )
        .await;
        let read = sample(
            &server,
            &key,
            "GET /api/v2/public/settings (auth + rate limit + activity)",
            n,
            |http, url, key| {
                http.get(format!("{url}/api/v2/public/settings"))
                    .header("x-api-key", key)
            },
        )
        .await;
        let write = sample(
            &server,
            &key,
            "PATCH /api/v2/public/settings + Idempotency-Key (+ idempotency + audit)",
            n,
            |http, url, key| {
                http.patch(format!("{url}/api/v2/public/settings"))
                    .header("x-api-key", key)
                    .header("content-type", "application/merge-patch+json")
                    .header("idempotency-key", uuid::Uuid::new_v4().to_string())
                    .body(r#"{"autoFinalizeMcpRuns": true}"#)
            },
        )
        .await;
        println!("\n## Gate: auth + rate limit + idempotency (SQLite)\n");
        println!("| request | p50 | p99 | sequential req/s | added p50 vs /healthz |");
        println!("| --- | --- | --- | --- | --- |");
        let base = percentile(&health.latencies, 50.0);
        for s in [&health, &read, &write] {
            let p50 = percentile(&s.latencies, 50.0);
            println!(
                "| {} | {} | {} | {:.0} | {} ({:.2}×) |",
                s.name,
                us(p50),
                us(percentile(&s.latencies, 99.0)),
                s.per_second,
                us(p50.saturating_sub(base)),
                p50.as_secs_f64() / base.as_secs_f64().max(1e-9)
            );
        }
        println!("\n({n} sequential requests each, client on the same machine.)");
    });
}

async fn sample(
    server: &TestServer,
    key: &str,
    name: &'static str,
    n: usize,
    build: impl Fn(&reqwest::Client, &str, &str) -> reqwest::RequestBuilder,
) -> Sample {
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .expect("client");
    // Warm up connections and caches.
    for _ in 0..50 {
        let _ = build(&http, &server.url, key)
            .send()
            .await
            .expect("warm-up")
            .bytes()
            .await;
    }
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = build(&http, &server.url, key)
            .send()
            .await
            .expect("request");
        assert!(r.status().is_success(), "{name}: {}", r.status());
        let _ = r.bytes().await;
        latencies.push(t.elapsed());
    }
    let per_second = n as f64 / started.elapsed().as_secs_f64();
    Sample {
        name,
        latencies: sorted(latencies),
        per_second,
    }
}
