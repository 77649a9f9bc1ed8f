//! The command line: every command, flag and its help text.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use proem_core::config::{LogFormat, Overrides};

/// Proem: a self-hosted prompt workspace for people and AI agents.
///
/// `proem serve` runs the server (SQLite and local files by default, nothing to install);
/// `proem admin` creates users and API keys directly on the configured database.
#[derive(Debug, Parser)]
#[command(name = "proem", version, propagate_version = true)]
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
    /// Inspect configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Operator commands on the configured database: users and API keys. Safe while a server runs.
    Admin(AdminArgs),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a commented example configuration with every default.
    PrintDefault,
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
}
