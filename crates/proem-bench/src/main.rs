//! `proem-bench`: measures what Proem adds on its hot paths, always against baselines measured in
//! the same run on the same machine, and prints ratios.
//!
//! - `stream`: a fake upstream streaming 64 tokens; the same traffic (1) straight to the fake,
//!   (2) through a minimal pass-through proxy built for the comparison, (3) through Proem
//!   (`POST /run` with auth, rate limit and SQLite writes). Time to first token, gaps between
//!   frames, frames delivered 1:1, CPU per frame, RSS per open stream, and how many concurrent
//!   50 tok/s streams Proem holds on one core without stalls.
//! - `gate`: requests/s and latency of an authenticated, rate-limited, idempotent request against
//!   an unauthenticated one (`/healthz`).
//! - `mcp`: calls/s and latency of `tools/call` `proem_get_prompt` over Streamable HTTP against
//!   the REST read of the same prompt, at concurrency 1 and 16.
//!
//! Run in release: `cargo run --release -p proem-bench -- all`; `stream --streams N` runs only the
//! concurrency round of N streams, with nothing before it in the process; `stream --sequential`
//! only the sequential streams (time to first token, gaps, CPU per frame); `--interval-ms MS`
//! spaces a crowd's tokens otherwise than 20 ms; `--no-pin` leaves the
//! stream bench's threads where the scheduler puts them instead of one core for the servers and
//! another for the harness.

#![expect(
    clippy::expect_used,
    reason = "a benchmark harness stops loudly when its setup fails"
)]

mod gate;
mod mcp;
mod measure;
mod stream;

/// The allocator the `proem` binary ships with, so Proem is measured as it runs; the proxy and
/// the harness share it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Rate limits far above what a bench sends, so the limiter is checked but never refuses.
fn unthrottled(config: &mut proem_core::Config) {
    let huge = u32::MAX / 2;
    let limits = &mut config.rate_limits;
    limits.read_per_key = huge;
    limits.read_per_user = huge;
    limits.execute_per_key = huge;
    limits.execute_per_user = huge;
}

fn main() {
    let what = std::env::args().nth(1).unwrap_or_else(|| "all".to_owned());
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let sequential_only = args.iter().any(|a| a == "--sequential");
    let placement = if args.iter().any(|a| a == "--no-pin") {
        None
    } else {
        stream::Placement::pinned()
    };
    let crowd = args
        .iter()
        .position(|a| a == "--streams")
        .and_then(|i| args.get(i + 1))
        .map(|n| n.parse().expect("--streams takes a number of streams"));
    let crowd_interval = args
        .iter()
        .position(|a| a == "--interval-ms")
        .and_then(|i| args.get(i + 1))
        .map_or(std::time::Duration::from_millis(20), |ms| {
            std::time::Duration::from_millis(ms.parse().expect("--interval-ms takes milliseconds"))
        });
    let stream_options = stream::Options {
        quick,
        crowd,
        sequential_only,
        placement,
        crowd_interval,
    };
    match what.as_str() {
        "stream" => stream::run(stream_options),
        "gate" => gate::run(quick),
        "mcp" => mcp::run(quick),
        "all" => {
            gate::run(quick);
            mcp::run(quick);
            stream::run(stream_options);
        }
        other => {
            eprintln!(
                "usage: proem-bench [stream|gate|mcp|all] [--quick] [--streams N] [--interval-ms MS] [--sequential] [--no-pin]   (unknown: {other})"
            );
            std::process::exit(2);
        }
    }
}
