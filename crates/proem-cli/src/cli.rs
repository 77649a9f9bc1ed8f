//! The command line: every command, flag and its help text. The client commands' flags live
//! beside what they do, in `commands/`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use proem_core::config::{LogFormat, Overrides};

use crate::commands::ClientOpts;
use crate::commands::attachments::AttachmentsArgs;
use crate::commands::auth::AuthArgs;
use crate::commands::config::SetArgs;
use crate::commands::models::ModelsArgs;
use crate::commands::prompts::PromptsArgs;
use crate::commands::records::RecordsArgs;
use crate::commands::runs::{CancelArgs, FinalizeArgs, ReviseArgs, RunArgs};
use crate::commands::versions::VersionsArgs;
use crate::error::EXIT_CODES_HELP;

/// Proem: a self-hosted prompt workspace for people and AI agents.
///
/// `proem serve` runs the server (SQLite and local files by default, nothing to install);
/// `proem admin` creates users and API keys directly on the configured database. The other
/// commands are the API client: `proem auth login` once, then prompts, runs, records and
/// attachments, with `--json` on every one for scripts.
#[derive(Debug, Parser)]
#[command(name = "proem", version, propagate_version = true, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (REST API, problem pages, health and metrics).
    Serve(ServerArgs),
    /// Apply pending database migrations and exit (the server also does this at start).
    Migrate(ServerArgs),
    /// Inspect configuration, or change your settings on the server.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Operator commands on the configured database: users and API keys. Safe while a server runs.
    Admin(AdminArgs),
    /// Log in to a server with an API key, show who you are, log out.
    Auth(AuthArgs),
    /// The model catalog: model ids for a prompt's modelSettings.
    Models(ModelsArgs),
    /// Prompts: list, show, create (flags or a YAML manifest), patch, delete, switch or delete
    /// versions.
    Prompts(PromptsArgs),
    /// A prompt's versions: create, list, show, patch.
    Versions(VersionsArgs),
    /// Run a prompt, streaming its output; then the run and record ids.
    Run(RunArgs),
    /// Revise a run (run_…) or a record (rec_…) with an instruction, streaming the new output.
    Revise(ReviseArgs),
    /// Save a run as a record, with an edited final text, a tag and notes.
    Finalize(FinalizeArgs),
    /// Abandon an open run.
    Cancel(CancelArgs),
    /// Records (finalized runs and manual examples): list, show with turns, create, patch,
    /// delete, download images.
    Records(RecordsArgs),
    /// A prompt's attachments: add, list, download, delete.
    Attachments(AttachmentsArgs),
    /// Serve MCP on stdin/stdout for a local agent (Claude Desktop, Cursor…), bridged to a Proem
    /// server's /mcp with your key. Logs go to stderr.
    Mcp(crate::mcp::McpArgs),
    /// Print a shell completion script, e.g. `proem completions bash > /etc/bash_completion.d/proem`.
    Completions {
        #[arg(value_enum)]
        shell: CompletionShell,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

impl Command {
    /// The client flags of a client command (None for server and operator commands).
    pub fn client_opts(&self) -> Option<&ClientOpts> {
        Some(match self {
            Command::Auth(a) => &a.opts,
            Command::Models(a) => &a.opts,
            Command::Prompts(a) => &a.opts,
            Command::Versions(a) => &a.opts,
            Command::Run(a) => &a.opts,
            Command::Revise(a) => &a.opts,
            Command::Finalize(a) => &a.opts,
            Command::Cancel(a) => &a.opts,
            Command::Records(a) => &a.opts,
            Command::Attachments(a) => &a.opts,
            Command::Config {
                command: ConfigCommand::Set(a),
            } => &a.opts,
            Command::Serve(_)
            | Command::Migrate(_)
            | Command::Admin(_)
            | Command::Mcp(_)
            | Command::Completions { .. }
            | Command::Config {
                command: ConfigCommand::PrintDefault,
            } => return None,
        })
    }
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a commented example configuration with every default.
    PrintDefault,
    /// Change one of your settings on the server, e.g. `auto-finalize-mcp-runs false`.
    Set(SetArgs),
}

/// Where the server's configuration and data are. Precedence: flags, then `PROEM_*`
/// environment, then the TOML file, then defaults.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// TOML configuration file (see `proem config print-default`).
    #[arg(long, env = "PROEM_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "PROEM_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Data directory for the embedded database and blobs [default: ./proem-data].
    #[arg(long, env = "PROEM_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Database: sqlite://path or postgres://user:pass@host/db [default: sqlite in the data dir].
    #[arg(
        long,
        env = "PROEM_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Blob store: file:///path or s3://bucket/prefix [default: <data-dir>/blobs].
    #[arg(long, env = "PROEM_BLOB_URL", global = true)]
    pub blob_url: Option<String>,
    /// Log format on stderr.
    #[arg(long, env = "PROEM_LOG_FORMAT", global = true, value_enum)]
    pub log_format: Option<LogFormatArg>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormatArg {
    Human,
    Json,
}

impl ServerArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen,
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            blob_url: self.blob_url.clone(),
            log_format: self.log_format.map(|f| match f {
                LogFormatArg::Human => LogFormat::Human,
                LogFormatArg::Json => LogFormat::Json,
            }),
        }
    }
}

#[derive(Debug, Args)]
pub struct AdminArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; prints the new user id on stdout.
    Create {
        /// The user's email, their login name for operators.
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an API key; prints only the key (pmk_…) on stdout. It is shown once.
    Create {
        /// Owner's email.
        #[arg(long)]
        user: String,
        /// Comma-separated scopes: read, execute, write, or resource scopes such as
        /// prompts:read, records:*, and * for everything.
        #[arg(long, value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// A name to recognise the key by.
        #[arg(long, default_value = "")]
        name: String,
        /// Lifetime, e.g. 30d, 12h; never expires when omitted.
        #[arg(long)]
        expires_in: Option<humantime::Duration>,
    },
    /// List a user's keys (never the key material).
    List {
        /// Owner's email.
        #[arg(long)]
        user: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key at once; every server honours it within a second.
    Revoke {
        /// The key's id (key_…), as shown by `proem admin key list`.
        key_id: String,
    },
    /// Issue a successor with the same owner, scopes and grants; prints only the new key. The old
    /// key keeps working for the grace period, then expires.
    Rotate {
        key_id: String,
        /// How long the old key keeps working, e.g. 1h, 15m, 0s.
        #[arg(long, default_value = "1h")]
        grace: humantime::Duration,
    },
    /// Restrict a key to a prompt (a key with no grants reaches all of its user's prompts).
    Grant { key_id: String, prompt_id: String },
    /// Remove a prompt from a key's grants; removing the last one makes the key unrestricted.
    Ungrant { key_id: String, prompt_id: String },
    /// List the prompts a key is restricted to.
    Grants {
        key_id: String,
        /// Print JSON instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Limit the MCP tools a key may call (per-tool grants, on top of its scopes); discovery
    /// tools stay allowed. Without a flag, show the key's allow-list.
    Tools {
        key_id: String,
        /// Allow only these tools, comma-separated (`proem_get_prompt,proem_run_prompt`; the
        /// `proem_` prefix may be left out).
        #[arg(long, value_delimiter = ',', conflicts_with_all = ["all", "none", "clear"])]
        set: Option<Vec<String>>,
        /// Allow every tool the key's scopes permit, explicitly (`["*"]`).
        #[arg(long, conflicts_with_all = ["none", "clear"])]
        all: bool,
        /// Allow no tool but discovery (`[]`).
        #[arg(long, conflicts_with = "clear")]
        none: bool,
        /// Remove the allow-list: every tool the key's scopes permit (the default).
        #[arg(long)]
        clear: bool,
        /// Print JSON instead of lines.
        #[arg(long)]
        json: bool,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
