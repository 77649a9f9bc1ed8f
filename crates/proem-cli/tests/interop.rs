//! Interop with MCP clients nobody here wrote: the official TypeScript SDK and the official
//! Python SDK, each over Streamable HTTP straight to `/mcp` and over `proem mcp` on stdio, drive
//! a real server (with a fake model upstream) through list tools, create a prompt, a streamed run
//! with progress, finalize and read the record. The client scripts live in `interop/` and check
//! what the SDK saw; these tests check the scripts passed and that Proem itself holds the record.
//!
//! Ignored by default because they need Node and the SDKs: `interop/setup` installs them, and
//! `.ci/interop` runs these tests.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly where setup or an assertion fails"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use proem_testkit::{FakeUpstream, Scenario, TestServer, test_model_id};
use serde_json::{Value, json};

/// What the fake model streams: several deltas, so concatenation is actually checked.
const TOKENS: [&str; 4] = ["Interop", " through", " an official", " SDK."];
/// A client that takes longer is hung; a healthy run takes a few seconds.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy)]
enum Sdk {
    TypeScript,
    Python,
}

#[derive(Debug, Clone, Copy)]
enum Transport {
    StreamableHttp,
    ProemMcpStdio,
}

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop")
}

/// The SDK's client script under its pinned runtime.
fn client_command(sdk: Sdk) -> Command {
    let dir = interop_dir();
    let (runtime, script) = match sdk {
        Sdk::TypeScript => (
            dir.join("node_modules/.bin/node"),
            dir.join("ts/client.mjs"),
        ),
        Sdk::Python => (dir.join(".venv/bin/python"), dir.join("py/client.py")),
    };
    assert!(
        runtime.exists(),
        "{} is missing: run interop/setup first (it installs the official MCP SDKs)",
        runtime.display()
    );
    let mut command = Command::new(runtime);
    command.arg(script);
    command
}

/// Runs `command` to completion without blocking the runtime that serves the server; returns
/// its status, stdout and stderr.
async fn run_client(mut command: Command) -> (std::process::ExitStatus, String, String) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = read_all(child.stdout.take().unwrap());
    let stderr = read_all(child.stderr.take().unwrap());
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the client did not finish within {CLIENT_TIMEOUT:?}; its stderr:\n{}",
                stderr.join().unwrap()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    (status, stdout.join().unwrap(), stderr.join().unwrap())
}

/// Reads a pipe to its end on a thread of its own.
fn read_all(mut pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        pipe.read_to_string(&mut text).unwrap();
        text
    })
}

async fn interop(sdk: Sdk, transport: Transport) {
    let upstream = FakeUpstream::start().await;
    let base_url = upstream.base_url();
    let server = TestServer::start_with(|c| {
        for p in c.providers.values_mut() {
            p.base_url = base_url.clone();
        }
    })
    .await;
    let (_, key) = server.user_with_key(&["read", "execute", "write"]).await;
    upstream.push(Scenario::text(TOKENS));

    let mut command = client_command(sdk);
    match transport {
        Transport::StreamableHttp => command.args(["--http", &server.at("/mcp")]),
        Transport::ProemMcpStdio => {
            command.args(["--stdio", env!("CARGO_BIN_EXE_proem"), "--url", &server.url])
        }
    };
    command.args(["--key", &key, "--model", &test_model_id()]);
    let (status, stdout, stderr) = run_client(command).await;
    assert!(
        status.success(),
        "{sdk:?} over {transport:?} failed ({status}); stderr:\n{stderr}\nstdout:\n{stdout}"
    );
    let line = stdout.lines().rev().find(|l| !l.trim().is_empty());
    let summary: Value = serde_json::from_str(line.unwrap_or_default())
        .unwrap_or_else(|e| panic!("no JSON summary line ({e}); stdout:\n{stdout}"));
    println!("{summary}");

    // What the SDK saw: every token as its own progress delta, and the whole text as the output.
    let text = TOKENS.concat();
    assert_eq!(summary["deltas"], json!(TOKENS), "{summary}");
    assert_eq!(summary["outputText"], text, "{summary}");
    assert_eq!(summary["modelId"], test_model_id(), "{summary}");

    // What Proem holds, read over REST rather than MCP: the record of that run, with that output,
    // made by one model call.
    let record_id = summary["recordId"].as_str().unwrap();
    let response = server
        .http
        .get(server.at(&format!("/api/v2/public/records/{record_id}")))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "GET record {record_id}");
    let record: Value = response.json().await.unwrap();
    assert_eq!(record["outputText"], text, "{record}");
    assert_eq!(record["inputText"], "interop", "{record}");
    assert_eq!(record["runSessionId"], summary["runId"], "{record}");
    assert_eq!(record["promptId"], summary["promptId"], "{record}");
    assert_eq!(record["source"], "API", "{record}");
    assert_eq!(upstream.requests().len(), 1, "one model call for one run");
}

#[tokio::test]
#[ignore = "needs the MCP peers: interop/setup; CI runs them"]
async fn ts_sdk_over_streamable_http() {
    interop(Sdk::TypeScript, Transport::StreamableHttp).await;
}

#[tokio::test]
#[ignore = "needs the MCP peers: interop/setup; CI runs them"]
async fn ts_sdk_over_proem_mcp_stdio() {
    interop(Sdk::TypeScript, Transport::ProemMcpStdio).await;
}

#[tokio::test]
#[ignore = "needs the MCP peers: interop/setup; CI runs them"]
async fn python_sdk_over_streamable_http() {
    interop(Sdk::Python, Transport::StreamableHttp).await;
}

#[tokio::test]
#[ignore = "needs the MCP peers: interop/setup; CI runs them"]
async fn python_sdk_over_proem_mcp_stdio() {
    interop(Sdk::Python, Transport::ProemMcpStdio).await;
}
