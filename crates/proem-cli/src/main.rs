//! The `proem` binary. Thin: parse the command line, set up logging, hand off to a command, and
//! turn its failure into the documented exit code (`error::Exit`).

mod admin;
mod cli;
mod client;
mod commands;
mod credentials;
mod error;
mod images;
mod mcp;
mod output;
mod serve;
mod stream;

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser};

use crate::cli::{Cli, Command, CompletionShell, ConfigCommand};
use crate::error::{CliError, Exit};

/// mimalloc rather than glibc's malloc: a run's relay allocates a few short-lived buffers per
/// token, and glibc's allocator was ~10% of the server's CPU at a thousand open streams.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.command.client_opts().is_some_and(|o| o.json);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(dispatch(cli.command));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e, json),
    }
}

async fn dispatch(command: Command) -> anyhow::Result<()> {
    use crate::commands::{attachments, auth, config, models, prompts, records, runs, versions};
    match command {
        Command::Serve(args) => serve::run(args).await,
        Command::Migrate(args) => serve::migrate(args).await,
        Command::Config {
            command: ConfigCommand::PrintDefault,
        } => {
            print!("{}", proem_core::config::DEFAULT_CONFIG_TOML);
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Set(args),
        } => config::set(args).await,
        Command::Admin(args) => admin::run(args).await,
        Command::Mcp(args) => mcp::run(args).await,
        Command::Auth(args) => auth::run(args).await,
        Command::Models(args) => models::run(args).await,
        Command::Prompts(args) => prompts::run(args).await,
        Command::Versions(args) => versions::run(args).await,
        Command::Run(args) => runs::run(args).await,
        Command::Revise(args) => runs::revise(args).await,
        Command::Finalize(args) => runs::finalize(args).await,
        Command::Cancel(args) => runs::cancel(args).await,
        Command::Records(args) => records::run(args).await,
        Command::Attachments(args) => attachments::run(args).await,
        Command::Completions { shell } => {
            let shell = match shell {
                CompletionShell::Bash => clap_complete::Shell::Bash,
                CompletionShell::Zsh => clap_complete::Shell::Zsh,
                CompletionShell::Fish => clap_complete::Shell::Fish,
            };
            clap_complete::generate(shell, &mut Cli::command(), "proem", &mut std::io::stdout());
            Ok(())
        }
    }
}

/// Prints a failure on stderr (reason code, detail, action hint) and, under `--json`, the
/// server's problem document on stdout; returns the exit code.
fn report(e: &anyhow::Error, json: bool) -> ExitCode {
    let Some(cli) = e.downcast_ref::<CliError>() else {
        eprintln!("error: {e:#}");
        return Exit::Other.code();
    };
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let label = if colour {
        "\x1b[1;31merror\x1b[0m"
    } else {
        "error"
    };
    eprintln!("{label}: {cli}");
    if let Some(p) = &cli.problem {
        if !p.action_hint.is_empty() {
            eprintln!("  hint: {}", p.action_hint);
        }
        for param in &p.invalid_params {
            eprintln!("  field: {} ({})", param.name, param.reason);
        }
        if !p.request_id.is_empty() {
            eprintln!("  id:   {}", p.request_id);
        }
        if json
            && !cli.in_stream
            && let Ok(doc) = serde_json::to_string(p)
        {
            let _ = writeln!(std::io::stdout().lock(), "{doc}");
        }
    }
    // Context added on the way up (e.g. which step of a manifest failed).
    for cause in e.chain().skip(1) {
        eprintln!("  cause: {cause}");
    }
    if let Some(hint) = &cli.hint {
        eprintln!("  next: {hint}");
    }
    cli.exit.code()
}
