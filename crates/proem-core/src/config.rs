//! Server configuration, loaded in layers: defaults → TOML file → `PROEM_*` environment → flags.
//! Unknown keys are errors. The loader reads; it never writes a file.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::catalog::ProviderConfig;
use crate::secret::SecretRef;

/// The documented example config; `proem config print-default` prints it. A test checks that it
/// parses to exactly [`Config::default`], so the comments cannot drift from the code.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("config/default.toml");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Where the embedded database, blobs and generated secrets live.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; empty means `sqlite://<data_dir>/proem.db`.
    pub database_url: String,
    /// `file://…` or `s3://bucket/prefix`; empty means `file://<data_dir>/blobs`.
    pub blob_url: String,
    /// Origin used in problem `type` URLs and links; empty means `http://<listen>`.
    pub public_url: String,
    /// `human` or `json`.
    pub log_format: LogFormat,
    pub http: HttpConfig,
    pub rate_limits: RateLimitConfig,
    pub secrets: SecretsConfig,
    pub upstream: UpstreamConfig,
    pub mcp: McpConfig,
    /// The catalog `model_id` that writes Auto-mode version descriptions; unset: none are written.
    pub describer_model: Option<String>,
    /// LLM providers and their models, `[providers.<name>]`.
    pub providers: BTreeMap<String, ProviderConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// Per-request deadline for non-streaming requests.
    pub request_timeout_secs: u64,
    /// How long a shutdown waits for in-flight requests.
    pub shutdown_grace_secs: u64,
    /// Silence on a run's event stream after which a keep-alive comment is sent.
    pub sse_keep_alive_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    pub read_per_key: u32,
    pub read_per_user: u32,
    pub execute_per_key: u32,
    pub execute_per_user: u32,
    /// Write requests count against the read bucket unless these are set.
    pub write_per_key: Option<u32>,
    pub write_per_user: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsConfig {
    /// Key that signs list cursors. Instances sharing one database must share it; when unset, a
    /// random key is generated once into `<data_dir>/cursor.key`.
    pub cursor_key: Option<SecretRef>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./proem-data"),
            database_url: String::new(),
            blob_url: String::new(),
            public_url: String::new(),
            log_format: LogFormat::Human,
            http: HttpConfig::default(),
            rate_limits: RateLimitConfig::default(),
            secrets: SecretsConfig::default(),
            upstream: UpstreamConfig::default(),
            mcp: McpConfig::default(),
            describer_model: None,
            providers: BTreeMap::new(),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit_bytes: 32 * 1024 * 1024,
            request_timeout_secs: 30,
            shutdown_grace_secs: 20,
            sse_keep_alive_secs: 15,
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        // Spec "Rate limits": read 60/300, execute 30/90 per minute, per key / per user.
        Self {
            read_per_key: 60,
            read_per_user: 300,
            execute_per_key: 30,
            execute_per_user: 90,
            write_per_key: None,
            write_per_user: None,
        }
    }
}

/// Timeouts of calls to LLM providers. Nothing is retried after the first byte.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamConfig {
    pub connect_timeout_secs: u64,
    /// Until the first byte of the response body.
    pub first_byte_timeout_secs: u64,
    /// Longest silence between two frames of a stream.
    pub idle_timeout_secs: u64,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            connect_timeout_secs: 10,
            first_byte_timeout_secs: 60,
            idle_timeout_secs: 120,
        }
    }
}

impl UpstreamConfig {
    pub fn timeouts(&self) -> proem_llm::Timeouts {
        proem_llm::Timeouts {
            connect: std::time::Duration::from_secs(self.connect_timeout_secs),
            first_byte: std::time::Duration::from_secs(self.first_byte_timeout_secs),
            idle: std::time::Duration::from_secs(self.idle_timeout_secs),
        }
    }
}

/// The MCP endpoint (`/mcp`): which `Host` and `Origin` headers it answers, against DNS
/// rebinding and cross-site calls from browsers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct McpConfig {
    /// Allowed `Host` values (`host` or `host:port`; without a port any port matches). The hosts
    /// of `listen` and `public_url` are always allowed as well.
    pub allowed_hosts: Vec<String>,
    /// Allowed browser `Origin`s (`scheme://host:port`, `:*` for any port). Requests without an
    /// `Origin` (CLI agents) always pass; the origin of `public_url` is always allowed as well.
    pub allowed_origins: Vec<String>,
}

impl Default for McpConfig {
    fn default() -> Self {
        Self {
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "[::1]".into()],
            allowed_origins: vec![
                "http://localhost:*".into(),
                "http://127.0.0.1:*".into(),
                "http://[::1]:*".into(),
            ],
        }
    }
}

/// Values from the environment and the command line; `None` leaves the lower layer in place.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub blob_url: Option<String>,
    pub log_format: Option<LogFormat>,
}

impl Config {
    /// Parses a TOML document; unknown keys are errors.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let config: Self = toml::from_str(text).map_err(|e| e.to_string())?;
        config.check_providers()?;
        Ok(config)
    }

    /// Image output is the Responses API's `image_generation` tool: a model of another kind that
    /// claimed it would run as a text model and surprise its users.
    fn check_providers(&self) -> Result<(), String> {
        for (name, provider) in &self.providers {
            for model in &provider.models {
                if model.output_modalities.iter().any(|m| m == "image")
                    && provider.kind != proem_llm::ProviderKind::Openai
                {
                    return Err(format!(
                        "providers.{name}: model {} lists image output, which only kind = \"openai\" (the Responses API) can produce",
                        model.name
                    ));
                }
            }
        }
        Ok(())
    }

    /// Defaults, then the file at `path` if given, then `overrides`.
    pub fn load(path: Option<&Path>, overrides: Overrides) -> Result<Self, String> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
                Self::from_toml(&text)
                    .map_err(|e| format!("config file {}: {e}", path.display()))?
            }
            None => Self::default(),
        };
        config.apply(overrides);
        Ok(config)
    }

    pub fn apply(&mut self, o: Overrides) {
        if let Some(v) = o.listen {
            self.listen = v;
        }
        if let Some(v) = o.data_dir {
            self.data_dir = v;
        }
        if let Some(v) = o.database_url {
            self.database_url = v;
        }
        if let Some(v) = o.blob_url {
            self.blob_url = v;
        }
        if let Some(v) = o.log_format {
            self.log_format = v;
        }
    }

    /// The database URL with the embedded default filled in.
    pub fn effective_database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("proem.db").display())
        } else {
            self.database_url.clone()
        }
    }

    /// The blob store URL with the embedded default filled in.
    pub fn effective_blob_url(&self) -> String {
        if self.blob_url.is_empty() {
            format!(
                "file://{}",
                absolute(&self.data_dir.join("blobs")).display()
            )
        } else {
            self.blob_url.clone()
        }
    }

    /// The public origin, without a trailing slash.
    pub fn effective_public_url(&self) -> String {
        if self.public_url.is_empty() {
            format!("http://{}", self.listen)
        } else {
            self.public_url.trim_end_matches('/').to_owned()
        }
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn print_default_parses_to_the_defaults() {
        assert_eq!(
            Config::from_toml(DEFAULT_CONFIG_TOML).unwrap(),
            Config::default()
        );
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = Config::from_toml("listen = \"127.0.0.1:1\"\nlisen = 3").unwrap_err();
        assert!(err.contains("lisen"), "{err}");
        assert!(Config::from_toml("[http]\nbody_limit = 1").is_err());
    }

    #[test]
    fn image_output_needs_the_responses_api() {
        let provider = |kind: &str| {
            format!(
                "[providers.p]\nkind = \"{kind}\"\nbase_url = \"http://127.0.0.1:1/v1\"\n\
                 [[providers.p.models]]\nname = \"painter\"\noutput_modalities = [\"image\"]\n"
            )
        };
        let err = Config::from_toml(&provider("openai_chat")).unwrap_err();
        assert!(err.contains("image output"), "{err}");
        assert!(Config::from_toml(&provider("anthropic")).is_err());
        assert!(Config::from_toml(&provider("openai")).is_ok());
    }

    #[test]
    fn layers_apply_in_order() {
        let mut config =
            Config::from_toml("listen = \"127.0.0.1:9000\"\ndata_dir = \"/tmp/a\"").unwrap();
        assert_eq!(config.listen.port(), 9000);
        config.apply(Overrides {
            data_dir: Some("/tmp/b".into()),
            ..Overrides::default()
        });
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.data_dir, PathBuf::from("/tmp/b"));
        assert_eq!(config.effective_database_url(), "sqlite:///tmp/b/proem.db");
    }
}
