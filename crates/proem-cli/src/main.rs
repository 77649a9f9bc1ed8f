//! The `proem` binary. Thin: parse the command line, set up logging, hand off to a command.

mod admin;
mod cli;
mod serve;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, ConfigCommand};

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Migrate(args) => serve::migrate(args).await,
            Command::Config {
                command: ConfigCommand::PrintDefault,
            } => {
                print!("{}", proem_core::config::DEFAULT_CONFIG_TOML);
                Ok(())
            }
            Command::Admin(args) => admin::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
