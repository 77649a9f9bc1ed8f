//! `proem-bench`: measures what Proem adds on its hot paths, always against baselines measured in
//! the same run on the same machine, and prints ratios. `proem-bench --help` lists the parts and
//! their options; the README's "Performance" section holds the figures and how to read them.

#![expect(
    clippy::expect_used,
    reason = "a benchmark harness stops loudly when its setup fails"
)]

mod gate;
mod mcp;
mod measure;
mod stream;

use std::time::Duration;

use clap::{Parser, ValueEnum};

/// The allocator the `proem` binary ships with, so Proem is measured as it runs; the proxy and
/// the harness share it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Measures Proem's hot paths against baselines measured in the same run, and prints ratios.
///
/// Run it from a release build (`cargo run --release -p proem-bench -- all`): a debug build
/// measures the compiler's checks, not Proem. Every part starts its own servers on loopback and
/// a SQLite file in a temporary directory; nothing outside the process is touched.
#[derive(Debug, Parser)]
#[command(name = "proem-bench", version)]
struct Args {
    /// Which part to run.
    #[arg(value_enum, default_value_t = Part::All)]
    part: Part,
    /// Fewer samples everywhere: a smoke run in seconds, not figures to quote.
    #[arg(long)]
    quick: bool,
    /// stream: sequential streams per target (default 500, 20 with --quick). The p99 is the
    /// 1%-slowest of these, so 500 puts five samples beyond it.
    #[arg(long, value_name = "N")]
    runs: Option<usize>,
    /// stream: only the sequential streams (time to first token, gaps, CPU per frame).
    #[arg(long, conflicts_with = "streams")]
    sequential: bool,
    /// stream: only one concurrency round of N streams, with nothing run before it in the
    /// process.
    #[arg(long, value_name = "N")]
    streams: Option<usize>,
    /// stream: milliseconds between two tokens of a concurrency round's stream (50 tok/s
    /// unless set; instructions.sh slows it down for valgrind).
    #[arg(long, value_name = "MS", default_value_t = 20)]
    interval_ms: u64,
    /// stream: leave threads where the scheduler puts them, instead of the servers on the
    /// first core and the harness (client and fake upstream) on the last.
    #[arg(long)]
    no_pin: bool,
}

/// The parts of the bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Part {
    /// The streaming run path: a fake upstream streaming 64 tokens, straight, through a minimal
    /// pass-through proxy and through Proem's `POST /run`; then concurrent 50 tok/s streams.
    Stream,
    /// An authenticated, rate-limited (and idempotent) request against `/healthz`.
    Gate,
    /// MCP `tools/call` `proem_get_prompt` against the REST read of the same prompt.
    Mcp,
    /// gate, mcp, then stream.
    All,
}

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
    let args = Args::parse();
    let stream_options = stream::Options {
        quick: args.quick,
        runs: args.runs,
        crowd: args.streams,
        sequential_only: args.sequential,
        placement: if args.no_pin {
            None
        } else {
            stream::Placement::pinned()
        },
        crowd_interval: Duration::from_millis(args.interval_ms),
    };
    match args.part {
        Part::Stream => stream::run(stream_options),
        Part::Gate => gate::run(args.quick),
        Part::Mcp => mcp::run(args.quick),
        Part::All => {
            gate::run(args.quick);
            mcp::run(args.quick);
            stream::run(stream_options);
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Args::command().debug_assert();
    }

    #[test]
    fn help_and_unknown_options_run_nothing() {
        for asked in [
            &["proem-bench", "stream", "--help"][..],
            &["proem-bench", "--stream"],
        ] {
            assert!(Args::try_parse_from(asked).is_err(), "{asked:?}");
        }
    }

    #[test]
    fn a_part_and_its_options_are_read() {
        let args =
            Args::try_parse_from(["proem-bench", "stream", "--sequential", "--runs", "2000"])
                .expect("valid");
        assert_eq!(args.part, Part::Stream);
        assert!(args.sequential);
        assert_eq!(args.runs, Some(2000));
        let all = Args::try_parse_from(["proem-bench"]).expect("valid");
        assert_eq!(all.part, Part::All);
        assert_eq!(all.interval_ms, 20);
    }
}
