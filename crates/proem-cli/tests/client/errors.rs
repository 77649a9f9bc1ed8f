//! Every error path prints its reason code, detail and action hint on stderr and exits with its
//! documented code (`proem --help`, README "Exit codes").

use predicates::prelude::*;
use proem_testkit::Scenario;

use super::support::{Env, PROEM, fails};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_request_exits_2_with_the_field_at_fault() {
    let env = Env::start().await;
    let out = env.run(&[
        "prompts",
        "create",
        "--name",
        "x",
        "--text",
        "y",
        "--model",
        "nope_00000000",
    ]);
    let err = fails(&out, 2, "invalid_model_settings");
    assert!(
        err.contains("hint: List models via GET /api/v2/public/models"),
        "{err}"
    );
}

#[test]
fn a_bad_command_line_exits_2() {
    let out = std::process::Command::new(PROEM)
        .args(["run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = std::process::Command::new(PROEM)
        .args(["run", "prm_x", "--no-accept", "--auto-finalize", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_key_exits_3_with_key_unauthorized() {
    let env = Env::start().await;
    env.cmd()
        .env("PROEM_API_KEY", "pmk_unknown")
        .args(["prompts", "list"])
        .assert()
        .code(3)
        .stdout(predicate::str::is_empty())
        .stderr(
            predicate::str::contains("error: key_unauthorized (401)")
                .and(predicate::str::contains("hint: "))
                .and(predicate::str::contains("id:   req_")),
        );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_scope_exits_3_with_scope_required() {
    let env = Env::with_scopes(&["read"]).await;
    let out = env.run(&[
        "prompts", "create", "--name", "x", "--text", "y", "--model", "m",
    ]);
    fails(&out, 3, "scope_required");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credentials_exits_3_and_says_how_to_log_in() {
    let env = Env::start().await;
    let out = env.bare().args(["models", "list"]).output().unwrap();
    fails(&out, 3, "proem auth login");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_prompt_exits_4_with_prompt_not_found() {
    let env = Env::start().await;
    let out = env.run(&["prompts", "get", "prm_missing"]);
    fails(&out, 4, "prompt_not_found");
    let out = env.run(&["finalize", "run_missing"]);
    fails(&out, 4, "run_not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_only_version_exits_5_with_cannot_delete_only_version() {
    let env = Env::start().await;
    let prompt = env.prompt("Only");
    let detail = env.json(&["prompts", "get", &prompt]);
    let version = detail["currentVersionId"].as_str().unwrap();
    let out = env.run(&["prompts", "delete-version", &prompt, version]);
    fails(&out, 5, "cannot_delete_only_version");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_ends_in_run_failed_exits_7_with_its_reason_code() {
    let env = Env::start().await;
    let prompt = env.prompt("Failing");
    env.upstream
        .push(Scenario::text(["partial", " output"]).with_error_event_after(1));
    let out = env.run(&["run", &prompt, "--input", "x"]);
    let err = fails(&out, 7, "run_failed");
    assert!(err.contains("hint: "), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("partial"));

    // Under --json the stream is JSON Lines ending in run_failed, and nothing else on stdout.
    env.upstream
        .push(Scenario::text(["partial", " output"]).with_error_event_after(1));
    let out = env.run(&["run", &prompt, "--input", "x", "--json"]);
    assert_eq!(out.status.code(), Some(7));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.first().unwrap()["event"], "run_session");
    assert!(events.iter().any(|e| e["event"] == "run_failed"));
    assert!(events.iter().all(|e| e.get("data").is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_server_exits_7() {
    let env = Env::start().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = env
        .cmd()
        .env("PROEM_API_URL", format!("http://127.0.0.1:{port}"))
        .args(["models", "list"])
        .output()
        .unwrap();
    fails(&out, 7, "cannot reach the Proem server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_errors_print_the_problem_document_on_stdout() {
    let env = Env::start().await;
    let out = env.run(&["prompts", "get", "prm_missing", "--json"]);
    assert_eq!(out.status.code(), Some(4));
    let problem: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(problem["reason_code"], "prompt_not_found");
    assert!(problem["action_hint"].as_str().is_some());
}
