//! Where the client's server URL and API key come from: `credentials.json` in the user's config
//! dir (written by `proem auth login`, mode 0600), overridden by `PROEM_API_URL` and
//! `PROEM_API_KEY`. Also the URL guard: a key is only ever sent over https or to this machine
//! (spec "Override the API URL").

use std::fs::{self, OpenOptions};
use std::io::Write as _;
#[cfg(unix)]
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::error::{CliError, Exit};

/// The server `proem auth login` talks to when `--url` is not given.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// What `proem auth login` saves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub url: String,
    pub key: String,
}

/// Where a setting came from, for `proem auth status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Env,
    File,
    Default,
}

impl Source {
    pub fn describe(self, var: &str, file: &Path) -> String {
        match self {
            Source::Env => format!("from ${var}"),
            Source::File => format!("from {}", file.display()),
            Source::Default => "the default".to_owned(),
        }
    }
}

/// The URL and key a client command uses.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub url: String,
    pub url_source: Source,
    pub key: String,
    pub key_source: Source,
}

/// The client's config dir: `$PROEM_CONFIG_DIR`, else `$XDG_CONFIG_HOME/proem`, else
/// `~/.config/proem`.
pub fn config_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = env_nonempty("PROEM_CONFIG_DIR") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = env_nonempty("XDG_CONFIG_HOME") {
        return Ok(PathBuf::from(dir).join("proem"));
    }
    Ok(home()?.join(".config").join("proem"))
}

/// Where `--no-accept` run artifacts go: `$PROEM_CONFIG_DIR/runs`, else `~/.proem/runs` (spec
/// "Run lifecycle").
pub fn runs_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = env_nonempty("PROEM_CONFIG_DIR") {
        return Ok(PathBuf::from(dir).join("runs"));
    }
    Ok(home()?.join(".proem").join("runs"))
}

pub fn credentials_path() -> anyhow::Result<PathBuf> {
    Ok(config_dir()?.join("credentials.json"))
}

fn home() -> anyhow::Result<PathBuf> {
    env_nonempty("HOME")
        .map(PathBuf::from)
        .context("cannot find your home directory: set HOME or PROEM_CONFIG_DIR")
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The saved credentials, if any.
pub fn load() -> anyhow::Result<Option<Credentials>> {
    let path = credentials_path()?;
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .with_context(|| format!("{} is not valid credentials JSON", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Saves credentials, readable by the user alone.
pub fn save(credentials: &Credentials) -> anyhow::Result<PathBuf> {
    let path = credentials_path()?;
    let json = serde_json::to_vec_pretty(credentials)?;
    write_private(&path, &json)?;
    Ok(path)
}

/// Removes the saved credentials; whether there were any.
pub fn delete() -> anyhow::Result<bool> {
    let path = credentials_path()?;
    match fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
    }
}

/// Writes `bytes` to `path` with mode 0600 (its folder 0700), replacing any earlier file.
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    // Write beside it, then rename: a reader never sees half a file, and the mode is set before
    // any secret is written.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    #[cfg(unix)]
    file.set_permissions(fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    #[cfg(unix)]
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    Ok(())
}

/// The URL and key for a client command: environment first, then the saved file.
pub fn resolve() -> anyhow::Result<Resolved> {
    let saved = load()?;
    let (url, url_source) = match env_nonempty("PROEM_API_URL") {
        Some(url) => (url, Source::Env),
        None => match &saved {
            Some(c) => (c.url.clone(), Source::File),
            None => (DEFAULT_URL.to_owned(), Source::Default),
        },
    };
    let (key, key_source) = match env_nonempty("PROEM_API_KEY") {
        Some(key) => (key, Source::Env),
        None => match saved {
            Some(c) => (c.key, Source::File),
            None => {
                return Err(CliError::new(Exit::Auth, "no API key: you are not logged in")
                    .with_hint(
                        "Run `proem auth login` (it asks for a pmk_… key), or set PROEM_API_KEY.",
                    )
                    .into());
            }
        },
    };
    let url = check_url(&url)?;
    Ok(Resolved {
        url,
        url_source,
        key: key.trim().to_owned(),
        key_source,
    })
}

/// The URL guard: `https://…` anywhere, `http://` only to `localhost`, `127.0.0.1` or `[::1]`.
/// Returns the URL without a trailing slash.
pub fn check_url(raw: &str) -> anyhow::Result<String> {
    let trimmed = raw.trim().trim_end_matches('/');
    let parsed = url::Url::parse(trimmed).map_err(|e| {
        CliError::usage(format!("`{raw}` is not a URL: {e}"))
            .with_hint("Use a URL such as https://proem.example.com or http://127.0.0.1:8080.")
    })?;
    let local = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match parsed.scheme() {
        "https" => {}
        "http" if local => {}
        "http" => {
            return Err(CliError::usage(format!(
                "refusing to send your API key over plain http to {}",
                parsed.host_str().unwrap_or("?")
            ))
            .with_hint(
                "Use https://, or http:// only to localhost, 127.0.0.1 or [::1] on this machine.",
            )
            .into());
        }
        other => {
            return Err(CliError::usage(format!(
                "unsupported URL scheme `{other}`: use https:// (or http:// to this machine)"
            ))
            .into());
        }
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_guard_allows_https_and_this_machine_only() {
        for ok in [
            "https://proem.example.com",
            "https://10.0.0.1:8443/",
            "http://localhost:8080",
            "http://127.0.0.1:8080/",
            "http://[::1]:8080",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for refused in [
            "http://example.com",
            "http://127.0.0.2:8080",
            "http://localhost.evil.example",
            "http://127.0.0.1.evil.example",
            "ftp://127.0.0.1",
            "not a url",
        ] {
            assert!(check_url(refused).is_err(), "{refused}");
        }
        assert_eq!(
            check_url("http://127.0.0.1:8080/").ok().as_deref(),
            Some("http://127.0.0.1:8080")
        );
    }
}
