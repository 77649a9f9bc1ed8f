//! `proem auth login|status|logout`, the credentials file, the environment overrides and the URL
//! guard.

use std::io::ErrorKind;

use super::support::{Env, fails, mode, ok, stderr};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_reads_the_key_from_stdin_and_saves_it_0600() {
    let env = Env::start().await;
    let out = env
        .bare()
        .args(["auth", "login", "--url", &env.server.url])
        .write_stdin(format!("{}\n", env.key))
        .output()
        .unwrap();
    ok(&out);
    assert!(stderr(&out).contains("logged in to"), "{}", stderr(&out));
    let path = env.config_dir().join("credentials.json");
    assert_eq!(mode(&path), 0o600);
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(saved["url"], env.server.url.as_str());
    assert_eq!(saved["key"], env.key.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_a_refused_key_saves_nothing_and_exits_3() {
    let env = Env::start().await;
    let out = env
        .bare()
        .args(["auth", "login", "--url", &env.server.url, "--key"])
        .arg(format!("{}x", env.key))
        .output()
        .unwrap();
    fails(&out, 3, "key_unauthorized");
    assert!(!env.config_dir().join("credentials.json").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_without_read_scope_still_logs_in() {
    let env = Env::with_scopes(&["execute"]).await;
    let out = env
        .bare()
        .args(["auth", "login", "--url", &env.server.url, "--key", &env.key])
        .output()
        .unwrap();
    ok(&out);
    assert!(stderr(&out).contains("no `read` scope"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_user_scopes_grants_expiry_and_rate_limit() {
    let env = Env::start().await;
    let prompt = env.prompt("Granted");
    let me = env.json(&["auth", "status"]);
    let key_id = me["keyId"].as_str().unwrap().to_owned();
    assert_eq!(
        me["scopes"],
        serde_json::json!(["read", "execute", "write"])
    );
    assert_eq!(me["grants"], serde_json::json!([]));
    assert_eq!(me["apiUrl"], env.server.url.as_str());
    assert!(
        me["rateLimit"]["limit"]
            .as_str()
            .unwrap()
            .parse::<u32>()
            .is_ok()
    );
    assert!(
        me["rateLimit"]["bucket"]
            .as_str()
            .unwrap()
            .starts_with("key=")
    );

    env.server
        .state
        .store()
        .grant_prompt(&key_id, &prompt)
        .await
        .unwrap();
    // The server trusts a looked-up key for up to a second.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let human = env.ok(&["auth", "status"]);
    for expected in [
        key_id.as_str(),
        "read, execute, write",
        prompt.as_str(),
        "never",
        "read requests left this minute",
        "from $PROEM_API_KEY",
    ] {
        assert!(human.contains(expected), "`{expected}` not in:\n{human}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_overrides_saved_credentials() {
    let env = Env::start().await;
    ok(&env
        .bare()
        .args(["auth", "login", "--url", &env.server.url, "--key", &env.key])
        .output()
        .unwrap());
    ok(&env.bare().args(["prompts", "list"]).output().unwrap());
    let overridden = env
        .bare()
        .env("PROEM_API_KEY", "pmk_not_a_real_key")
        .args(["prompts", "list"])
        .output()
        .unwrap();
    fails(&overridden, 3, "key_unauthorized");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_another_host_is_refused_before_the_key_is_sent() {
    let env = Env::start().await;
    // A listener on a loopback address outside the allowed list: nothing may connect to it.
    let Ok(listener) = std::net::TcpListener::bind("127.0.0.2:0") else {
        eprintln!("127.0.0.2 cannot be bound here; skipping");
        return;
    };
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let login = env
        .bare()
        .args(["auth", "login", "--url", &url, "--key", &env.key])
        .output()
        .unwrap();
    fails(&login, 2, "refusing to send your API key over plain http");
    let listed = env
        .cmd()
        .env("PROEM_API_URL", &url)
        .args(["prompts", "list"])
        .output()
        .unwrap();
    fails(&listed, 2, "refusing to send your API key over plain http");
    assert_eq!(
        listener.accept().map(|_| ()).unwrap_err().kind(),
        ErrorKind::WouldBlock,
        "the CLI connected to a refused URL"
    );
    assert!(!env.config_dir().join("credentials.json").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_without_credentials_says_so() {
    let env = Env::start().await;
    let out = env.bare().args(["auth", "logout"]).output().unwrap();
    ok(&out);
    assert!(stderr(&out).contains("not logged in"));
}
