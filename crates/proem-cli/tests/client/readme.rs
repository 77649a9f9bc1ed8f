//! The README's "CLI walkthrough" block, run verbatim by bash against a fresh `proem serve` (a
//! child process whose built-in OpenAI catalog points at the fake upstream), from the same
//! directory, exactly as a reader would.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use proem_testkit::FakeUpstream;

use super::support::PROEM;

const MARKER: &str = "<!-- cli-walkthrough";

/// The fenced block right after the marker.
fn walkthrough() -> String {
    let readme = include_str!("../../../../README.md");
    let after = &readme[readme
        .find(MARKER)
        .expect("the README has the walkthrough marker")..];
    let start = after.find("```sh\n").expect("a sh block after the marker") + "```sh\n".len();
    let len = after[start..].find("\n```").expect("the block ends");
    after[start..start + len].to_owned()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A clean environment for a child: none of the test's PROEM_* settings leak in.
fn clean(cmd: &mut Command, dir: &Path) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PROEM_") {
            cmd.env_remove(&name);
        }
    }
    cmd.env_remove("OPENAI_API_KEY")
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("NO_COLOR")
        .env("HOME", dir)
        .env("PROEM_CONFIG_DIR", dir.join("config"))
        .current_dir(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_walkthrough_runs_verbatim_against_a_fresh_server() {
    for tool in ["bash", "jq"] {
        if Command::new(tool).arg("--version").output().is_err() {
            eprintln!("{tool} is not installed; skipping the README walkthrough");
            return;
        }
    }
    let upstream = FakeUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");

    // Terminal 1: `OPENAI_API_KEY=sk-… proem serve`, on a free port instead of 8080.
    let mut serve = Command::new(PROEM);
    clean(&mut serve, dir.path());
    serve
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("OPENAI_API_KEY", "sk-walkthrough")
        .env("OPENAI_BASE_URL", upstream.base_url())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _server = Server(serve.spawn().unwrap());
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{url}/readyz")).send().await
            && r.status().is_success()
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "proem serve never became ready");

    // Terminal 2: the block, verbatim; `proem` on PATH, the URL from PROEM_API_URL.
    let bin_dir = Path::new(PROEM).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut bash = Command::new("bash");
    clean(&mut bash, dir.path());
    let out = bash
        .args(["-euo", "pipefail", "-c", &walkthrough()])
        .env("PATH", path)
        .env("PROEM_API_URL", &url)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the walkthrough failed ({:?})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status.code()
    );
    for expected in [
        "Hello world",
        "turns (3)",
        "[0] run",
        "[1] revision: Make it more formal.",
        "[2] edit [tag: Be brief]",
        "examples.txt",
    ] {
        assert!(
            stdout.contains(expected),
            "`{expected}` not in stdout:\n{stdout}\nstderr:\n{stderr}"
        );
    }
    assert!(stderr.contains("logged in to"), "{stderr}");
    assert!(stderr.contains("rec_"), "{stderr}");
    assert_eq!(upstream.requests().len(), 3, "two runs and a revision");
}
