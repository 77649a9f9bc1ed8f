//! `proem mcp` (the stdio bridge to a server's `/mcp`) and `proem admin key tools` (per-tool
//! grants), driven as an agent host and an operator would.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly where setup or an assertion fails"
)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use proem_testkit::{FakeUpstream, Scenario, TestServer};
use serde_json::{Value, json};

/// `proem mcp` as an agent host runs it: lines in on stdin, lines out on stdout (read on a thread,
/// so the test's runtime keeps serving the server).
struct Bridge {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    _config: tempfile::TempDir,
}

impl Bridge {
    fn start(url: &str, key: &str) -> Self {
        let config = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_proem"))
            .arg("mcp")
            .env("PROEM_API_URL", url)
            .env("PROEM_API_KEY", key)
            .env("PROEM_CONFIG_DIR", config.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            stdin,
            lines,
            _config: config,
        }
    }

    async fn send(&mut self, message: Value) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{message}").unwrap();
        stdin.flush().unwrap();
    }

    /// The next message on stdout; every line must be one JSON-RPC message.
    async fn next(&mut self) -> Value {
        for _ in 0..400 {
            match self.lines.try_recv() {
                Ok(line) => {
                    return serde_json::from_str(&line)
                        .unwrap_or_else(|e| panic!("not JSON on stdout ({e}): {line}"));
                }
                Err(mpsc::TryRecvError::Empty) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(mpsc::TryRecvError::Disconnected) => panic!("stdout closed"),
            }
        }
        panic!("no answer within 20 s");
    }

    /// Messages until the answer to request `id`.
    async fn answer(&mut self, id: i64) -> (Vec<Value>, Value) {
        let mut before = Vec::new();
        loop {
            let message = self.next().await;
            if message["id"] == id {
                return (before, message);
            }
            before.push(message);
        }
    }

    async fn initialize(&mut self) -> Value {
        self.send(json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "host", "version": "1"}},
        }))
        .await;
        let (_, init) = self.answer(1).await;
        self.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        init
    }

    /// Closes stdin and waits for the bridge to exit.
    async fn finish(mut self) -> std::process::ExitStatus {
        drop(self.stdin.take());
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        panic!("proem mcp did not exit at end of input");
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn proem_mcp_bridges_stdio_to_the_servers_tools() {
    let upstream = FakeUpstream::start().await;
    let base_url = upstream.base_url();
    let server = TestServer::start_with(|c| {
        for p in c.providers.values_mut() {
            p.base_url = base_url.clone();
        }
    })
    .await;
    let (_, key) = server.user_with_key(&["read", "execute", "write"]).await;
    let mut bridge = Bridge::start(&server.url, &key);
    let init = bridge.initialize().await;
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25");
    assert_eq!(init["result"]["serverInfo"]["name"], "proem");

    bridge
        .send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
        .await;
    let (_, tools) = bridge.answer(2).await;
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"proem_run_prompt"), "{names:?}");

    bridge
        .send(json!({
            "jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": {"name": "proem_create_prompt", "arguments": {
                "name": "Bridged", "promptText": "Summarize.", "modelSettings": server.model_settings()}},
        }))
        .await;
    let (_, created) = bridge.answer(3).await;
    let prompt = created["result"]["structuredContent"]["promptId"]
        .as_str()
        .unwrap()
        .to_owned();

    upstream.push(Scenario::text(["via", " stdio"]));
    bridge
        .send(json!({
            "jsonrpc": "2.0", "id": 4, "method": "tools/call",
            "params": {"name": "proem_run_prompt", "arguments": {"promptId": prompt, "userInput": "x"},
                       "_meta": {"progressToken": "tok"}},
        }))
        .await;
    let (before, ran) = bridge.answer(4).await;
    let deltas: Vec<&str> = before
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .map(|m| m["params"]["message"].as_str().unwrap())
        .collect();
    assert_eq!(deltas, vec!["via", " stdio"]);
    let out = &ran["result"]["structuredContent"];
    assert_eq!(out["outputText"], "via stdio");
    assert!(out["recordId"].is_string());

    // End of input ends the bridge.
    assert!(bridge.finish().await.success());
}

/// `_meta` of a request of the stateless protocol, as the Python SDK sends it.
fn stateless_meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "host", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    })
}

#[tokio::test]
async fn proem_mcp_carries_the_stateless_protocol_version_from_meta() {
    let server = TestServer::start().await;
    let (_, key) = server.user_with_key(&["read"]).await;
    let mut bridge = Bridge::start(&server.url, &key);
    bridge
        .send(json!({
            "jsonrpc": "2.0", "id": 1, "method": "server/discover",
            "params": {"_meta": stateless_meta()},
        }))
        .await;
    let (_, discovered) = bridge.answer(1).await;
    assert!(discovered.get("error").is_none(), "{discovered}");
    let result = &discovered["result"];
    assert!(
        result["supportedVersions"]
            .as_array()
            .unwrap()
            .contains(&json!("2026-07-28")),
        "{result}"
    );
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "proem"
    );

    // Without a session, each call names the version and the tool (Mcp-Name) again.
    bridge
        .send(json!({
            "jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "proem_get_catalog", "arguments": {}, "_meta": stateless_meta()},
        }))
        .await;
    let (_, called) = bridge.answer(2).await;
    assert!(called.get("error").is_none(), "{called}");
    assert_ne!(called["result"]["isError"], true, "{called}");
    assert!(called["result"]["structuredContent"]["models"].is_array());
    assert!(bridge.finish().await.success());
}

#[tokio::test]
async fn a_refused_key_comes_back_as_a_json_rpc_error_with_the_problem() {
    let server = TestServer::start().await;
    let mut bridge = Bridge::start(&server.url, "pmk_not_a_key");
    bridge
        .send(json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "host", "version": "1"}},
        }))
        .await;
    let answer = bridge.next().await;
    assert_eq!(answer["id"], 1);
    assert_eq!(answer["error"]["data"]["reason_code"], "key_unauthorized");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("key_unauthorized")
    );
}

fn admin(server: &TestServer, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_proem"))
        .arg("admin")
        .args(args)
        .env("PROEM_DATABASE_URL", &server.db.url)
        .env("PROEM_DATA_DIR", server.db.dir.path().join("data"))
        .env_remove("PROEM_CONFIG")
        .output()
        .unwrap()
}

fn json_out(output: &std::process::Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn admin_key_tools_sets_all_none_and_clears_a_keys_tool_list() {
    let server = TestServer::start().await;
    let (user, _) = server.user_with_key(&["read"]).await;
    let keys = server.state.store().list_keys(&user.id).await.unwrap();
    let key_id = keys[0].id.clone();
    let tools = |extra: &[&str]| {
        let mut args = vec!["key", "tools", key_id.as_str(), "--json"];
        args.extend_from_slice(extra);
        json_out(&admin(&server, &args))
    };
    assert_eq!(tools(&[]), Value::Null);
    assert_eq!(
        tools(&["--set", "get_prompt,proem_run_prompt"]),
        json!(["proem_get_prompt", "proem_run_prompt"])
    );
    assert_eq!(tools(&["--none"]), json!([]));
    assert_eq!(tools(&["--all"]), json!(["*"]));
    assert_eq!(tools(&["--clear"]), Value::Null);
    let stored = server.state.store().tool_grants(&key_id).await.unwrap();
    assert_eq!(stored, None);
    let unknown = admin(&server, &["key", "tools", "key_nope", "--none"]);
    assert!(!unknown.status.success());
    let bad = admin(&server, &["key", "tools", &key_id, "--set", "get prompt"]);
    assert!(!bad.status.success());
}
