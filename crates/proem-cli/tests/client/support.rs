//! A server whose provider is the fake upstream, a user with a key, a private config dir, and
//! the `proem` binary pointed at them.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use proem_testkit::{FakeUpstream, TestServer};
use tempfile::TempDir;

/// The binary under test.
pub const PROEM: &str = env!("CARGO_BIN_EXE_proem");

pub struct Env {
    pub server: TestServer,
    pub upstream: FakeUpstream,
    /// A key with read, execute and write (or the scopes asked for).
    pub key: String,
    /// Config dir (credentials, runs/), HOME, and room for manifests and downloads.
    pub dir: TempDir,
}

impl Env {
    pub async fn start() -> Self {
        Self::with_scopes(&["read", "execute", "write"]).await
    }

    pub async fn with_scopes(scopes: &[&str]) -> Self {
        Self::with(scopes, |_| {}).await
    }

    /// A server whose test model makes images as well as text, on the Responses API (the only
    /// kind that can).
    pub async fn images() -> Self {
        Self::with(&["read", "execute", "write"], |c| {
            for p in c.providers.values_mut() {
                p.kind = proem_core::catalog::ProviderKind::Openai;
                for m in &mut p.models {
                    m.output_modalities = vec!["text".into(), "image".into()];
                }
            }
        })
        .await
    }

    async fn with(scopes: &[&str], adjust: impl FnOnce(&mut proem_core::Config)) -> Self {
        let upstream = FakeUpstream::start().await;
        let base = upstream.base_url();
        let server = TestServer::start_with(|c| {
            for p in c.providers.values_mut() {
                p.base_url = base.clone();
            }
            adjust(c);
        })
        .await;
        let (_, key) = server.user_with_key(scopes).await;
        Self {
            server,
            upstream,
            key,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `proem` with no URL or key in the environment: only the config dir (as after a login).
    pub fn bare(&self) -> Command {
        let mut cmd = Command::new(PROEM);
        cmd.env_remove("PROEM_API_URL")
            .env_remove("PROEM_API_KEY")
            .env_remove("NO_COLOR")
            .env("PROEM_CONFIG_DIR", self.config_dir())
            .env("HOME", self.dir.path())
            .current_dir(self.dir.path())
            .timeout(std::time::Duration::from_secs(60));
        cmd
    }

    /// `proem` with `PROEM_API_URL` and `PROEM_API_KEY` set to this server and key.
    pub fn cmd(&self) -> Command {
        let mut cmd = self.bare();
        cmd.env("PROEM_API_URL", &self.server.url)
            .env("PROEM_API_KEY", &self.key);
        cmd
    }

    /// Runs `proem args…` with this server and key.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Runs `proem args…`, asserts success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        ok(&self.run(args))
    }

    /// Runs `proem args… --json` and parses stdout as one JSON document.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.ok(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not one JSON document ({e}): {out}"))
    }

    /// Creates a prompt on the test model through the CLI; returns its id.
    pub fn prompt(&self, name: &str) -> String {
        let model = proem_testkit::test_model_id();
        self.ok(&[
            "prompts",
            "create",
            "--name",
            name,
            "--text",
            "Summarize the input in three bullets.",
            "--model",
            &model,
        ])
        .trim()
        .to_owned()
    }
}

/// Asserts success and returns stdout.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts the documented exit code and that stderr names the reason code; returns stderr.
pub fn fails(out: &Output, code: i32, reason: &str) -> String {
    let err = stderr(out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {err}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(err.contains(reason), "`{reason}` not in stderr: {err}");
    err
}

/// Writes a file under `dir`.
pub fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// The file's permission bits.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}
