//! On a terminal (a pty from util-linux `script`): the output streams, so the first token is on
//! the screen while the upstream has not yet sent the last; a spinner waits on stderr until the
//! first token. Off a terminal: no spinner, no colour.

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use proem_testkit::Scenario;

use super::support::{Env, PROEM, ok};

/// Quotes a word for `sh -c`.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_output_reaches_the_terminal_before_the_run_ends() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("util-linux `script` is not installed; skipping the pty test");
        return;
    }
    let env = Env::start().await;
    let prompt = env.prompt("Slow");
    env.upstream.push(
        Scenario::text(["first-token", " second-token", " last-token"])
            .with_inter_token_delay(Duration::from_millis(2000)),
    );
    let command = [PROEM, "run", &prompt, "--input", "go"]
        .iter()
        .map(|w| quote(w))
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env("PROEM_API_URL", &env.server.url)
        .env("PROEM_API_KEY", &env.key)
        .env("PROEM_CONFIG_DIR", env.config_dir())
        .env("HOME", env.dir.path())
        .env_remove("NO_COLOR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Keep stdin open: `script` forwards it to the pty.
    let _stdin = child.stdin.take();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });

    let started = Instant::now();
    let mut screen = Vec::new();
    let mut first_seen_while = None;
    while started.elapsed() < Duration::from_secs(30) {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(chunk) => screen.extend_from_slice(&chunk),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        let text = String::from_utf8_lossy(&screen);
        if first_seen_while.is_none() && text.contains("first-token") {
            // What the upstream had sent at the moment the first token was on the screen.
            let sent: String = env
                .upstream
                .sent_frames()
                .iter()
                .map(|f| f.data.clone())
                .collect();
            first_seen_while = Some(sent);
        }
    }
    let status = child.wait().unwrap();
    let text = String::from_utf8_lossy(&screen).into_owned();
    assert!(status.success(), "{text}");
    let sent_then = first_seen_while.unwrap_or_else(|| panic!("first token never shown: {text}"));
    assert!(
        !sent_then.contains("last-token"),
        "the first token appeared only after the upstream sent the last one"
    );
    assert!(
        text.contains("first-token second-token last-token"),
        "{text}"
    );
    // The spinner ran on the terminal before the first token.
    let before = &text[..text.find("first-token").unwrap_or(0)];
    assert!(
        before.contains('⠋'),
        "no spinner before the first token: {before:?}"
    );
    assert!(text.contains("run_"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_a_terminal_there_is_no_spinner_and_no_colour() {
    let env = Env::start().await;
    let prompt = env.prompt("Plain");
    let out = env.run(&["run", &prompt, "--input", "go"]);
    let stdout = ok(&out);
    assert_eq!(stdout, "Hello world\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains('⠋') && !err.contains('\x1b'), "{err:?}");
    assert!(err.contains("record") && err.contains("rec_"), "{err}");
}
