//! Idempotency-Key on every mutation and safe retries: a fake API on a raw socket drops a
//! connection, answers 429 with `Retry-After`, then 503, then succeeds; every attempt must carry
//! the same key. A long `Retry-After` ends the command with exit 6.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use super::support::{Env, PROEM, fails, ok};

/// How the fake answers one connection.
enum Reply {
    /// Read the request, then close without answering (a connection reset).
    Drop,
    /// Answer with this status, extra headers and JSON body.
    Answer(u16, Vec<(&'static str, &'static str)>, String),
}

/// Requests the fake received: the request line and its Idempotency-Key.
type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A fake API answering one connection per reply, in order.
async fn fake_api(replies: Vec<Reply>) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        for reply in replies {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let head = read_request(&mut socket).await;
            let line = head.lines().next().unwrap_or_default().to_owned();
            let key = head.lines().find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("idempotency-key")
                    .then(|| value.trim().to_owned())
            });
            log.lock().unwrap().push((line, key));
            match reply {
                Reply::Drop => drop(socket),
                Reply::Answer(status, headers, body) => {
                    let mut response = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                        body.len()
                    );
                    for (name, value) in headers {
                        response.push_str(&format!("{name}: {value}\r\n"));
                    }
                    response.push_str("\r\n");
                    response.push_str(&body);
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                }
            }
        }
    });
    (url, seen)
}

/// Reads a request's head and its body (by Content-Length); returns the head.
async fn read_request(socket: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = socket.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + length {
                let n = socket.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return head;
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn problem(code: &str, status: u16) -> String {
    serde_json::json!({
        "type": format!("/problems/{code}"), "title": code, "status": status,
        "detail": format!("fake {code}"), "reason_code": code,
        "action_hint": "Wait and retry.", "request_id": "req_fake",
    })
    .to_string()
}

fn proem(url: &str, dir: &std::path::Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(PROEM);
    cmd.env("PROEM_API_URL", url)
        .env("PROEM_API_KEY", "pmk_fake")
        .env("PROEM_CONFIG_DIR", dir)
        .env("HOME", dir)
        .timeout(std::time::Duration::from_secs(60));
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_with_the_same_idempotency_key() {
    let created = serde_json::json!({
        "promptId": "prm_fake", "currentVersionId": "ver_fake", "versionNumber": 1,
    })
    .to_string();
    let (url, seen) = fake_api(vec![
        Reply::Drop,
        Reply::Answer(
            429,
            vec![("retry-after", "1")],
            problem("rate_limited", 429),
        ),
        Reply::Answer(503, vec![], problem("service_unavailable", 503)),
        Reply::Answer(201, vec![], created),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = proem(&url, dir.path())
        .args([
            "prompts", "create", "--name", "n", "--text", "t", "--model", "m",
        ])
        .output()
        .unwrap();
    assert_eq!(ok(&out).trim(), "prm_fake");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4, "{seen:?}");
    let first = seen[0].1.clone().expect("an Idempotency-Key");
    assert!(uuid::Uuid::parse_str(&first).is_ok(), "{first}");
    for (line, key) in &seen {
        assert!(line.starts_with("POST /api/v2/public/prompts "), "{line}");
        assert_eq!(key.as_deref(), Some(first.as_str()));
    }
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("retrying"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_idempotency_key_is_sent_and_each_invocation_gets_a_fresh_one() {
    let created = serde_json::json!({
        "promptId": "prm_fake", "currentVersionId": "ver_fake", "versionNumber": 1,
    })
    .to_string();
    let (url, seen) = fake_api(vec![
        Reply::Answer(201, vec![], created.clone()),
        Reply::Answer(201, vec![], created.clone()),
        Reply::Answer(201, vec![], created),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    for pinned in [Some("my-key-1"), None, None] {
        let mut cmd = proem(&url, dir.path());
        cmd.args([
            "prompts", "create", "--name", "n", "--text", "t", "--model", "m",
        ]);
        if let Some(k) = pinned {
            cmd.args(["--idempotency-key", k]);
        }
        ok(&cmd.output().unwrap());
    }
    let keys: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, k)| k.clone().unwrap())
        .collect();
    assert_eq!(keys[0], "my-key-1");
    assert_ne!(keys[1], keys[2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_retry_after_exits_6_with_rate_limited() {
    let (url, seen) = fake_api(vec![Reply::Answer(
        429,
        vec![("retry-after", "3600")],
        problem("rate_limited", 429),
    )])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = proem(&url, dir.path())
        .args(["models", "list"])
        .output()
        .unwrap();
    fails(&out, 6, "rate_limited");
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_key_replays_against_the_real_server() {
    let env = Env::start().await;
    let model = proem_testkit::test_model_id();
    let args = [
        "prompts",
        "create",
        "--name",
        "Once",
        "--text",
        "t",
        "--model",
        &model,
        "--idempotency-key",
        "replay-me",
    ];
    let first = env.ok(&args);
    let second = env.ok(&args);
    assert_eq!(first, second);
    let listed = env.json(&["prompts", "list"]);
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
}
