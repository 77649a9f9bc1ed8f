//! The `proem` binary driven as an operator would: admin commands on a real database, and
//! `proem serve` answering on a real port.

#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly where setup or an assertion fails"
)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use proem_testkit::TestDb;

fn proem(db: &TestDb, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_proem"))
        .args(args)
        .env("PROEM_DATABASE_URL", &db.url)
        .env("PROEM_DATA_DIR", db.dir.path().join("data"))
        .env_remove("PROEM_CONFIG")
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn contains_bytes(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().any(|e| {
        let path = e.unwrap().path();
        if path.is_dir() {
            contains_bytes(&path, needle)
        } else {
            let data = std::fs::read(&path).unwrap();
            data.windows(needle.len()).any(|w| w == needle)
        }
    })
}

#[tokio::test]
async fn admin_user_create_prints_the_user_id() {
    let db = TestDb::new().await;
    let out = stdout(&proem(
        &db,
        &[
            "admin",
            "user",
            "create",
            "--email",
            "ops@example.com",
            "--name",
            "Ops",
        ],
    ));
    assert!(out.trim().starts_with("usr_"), "{out}");
    assert_eq!(out.lines().count(), 1);
}

#[tokio::test]
async fn admin_user_create_twice_fails_with_a_clear_message() {
    let db = TestDb::new().await;
    stdout(&proem(
        &db,
        &["admin", "user", "create", "--email", "dup@example.com"],
    ));
    let again = proem(
        &db,
        &["admin", "user", "create", "--email", "DUP@example.com"],
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}

#[tokio::test]
async fn admin_key_create_prints_only_the_key_and_stores_only_its_hash() {
    let db = TestDb::new().await;
    stdout(&proem(
        &db,
        &["admin", "user", "create", "--email", "k@example.com"],
    ));
    let out = stdout(&proem(
        &db,
        &[
            "admin",
            "key",
            "create",
            "--user",
            "k@example.com",
            "--scopes",
            "read,execute,write",
            "--name",
            "ci",
            "--expires-in",
            "30d",
        ],
    ));
    let key = out.trim();
    assert_eq!(out.lines().count(), 1);
    assert!(proem_core::keys::parse(key).is_some(), "{key}");
    let store = db.store(proem_core::Clock::system()).await;
    let (record, _) = store
        .key_by_hash(&proem_core::keys::KeyHash::of(key))
        .await
        .unwrap()
        .expect("hash stored");
    assert_eq!(record.scopes, vec!["read", "execute", "write"]);
    let expires_in = record.expires_at.unwrap() - record.created_at;
    assert!((expires_in - 30 * 86_400_000).abs() < 60_000);
    store.close().await;
    assert!(
        !contains_bytes(db.dir.path(), key.as_bytes()),
        "plaintext key found in the data dir"
    );
}

#[tokio::test]
async fn admin_key_create_refuses_unknown_scopes_and_unknown_users() {
    let db = TestDb::new().await;
    stdout(&proem(
        &db,
        &["admin", "user", "create", "--email", "s@example.com"],
    ));
    let bad = proem(
        &db,
        &[
            "admin",
            "key",
            "create",
            "--user",
            "s@example.com",
            "--scopes",
            "read,admin",
        ],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown scope `admin`"));
    let nobody = proem(
        &db,
        &[
            "admin",
            "key",
            "create",
            "--user",
            "x@example.com",
            "--scopes",
            "read",
        ],
    );
    assert!(!nobody.status.success());
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("proem admin user create"));
}

#[tokio::test]
async fn admin_key_list_and_revoke() {
    let db = TestDb::new().await;
    stdout(&proem(
        &db,
        &["admin", "user", "create", "--email", "l@example.com"],
    ));
    let key = stdout(&proem(
        &db,
        &[
            "admin",
            "key",
            "create",
            "--user",
            "l@example.com",
            "--scopes",
            "read",
        ],
    ));
    let listed: serde_json::Value = serde_json::from_str(&stdout(&proem(
        &db,
        &["admin", "key", "list", "--user", "l@example.com", "--json"],
    )))
    .unwrap();
    let row = &listed[0];
    assert_eq!(row["status"], "active");
    assert_eq!(row["prefix"], &key.trim()[..12]);
    assert!(!listed.to_string().contains(key.trim()));
    let id = row["id"].as_str().unwrap();
    stdout(&proem(&db, &["admin", "key", "revoke", id]));
    let listed: serde_json::Value = serde_json::from_str(&stdout(&proem(
        &db,
        &["admin", "key", "list", "--user", "l@example.com", "--json"],
    )))
    .unwrap();
    assert_eq!(listed[0]["status"], "revoked");
    let table = stdout(&proem(
        &db,
        &["admin", "key", "list", "--user", "l@example.com"],
    ));
    assert!(table.starts_with("ID"));
    assert!(table.contains("revoked"));
}

#[test]
fn config_print_default_is_a_valid_config() {
    let out = Command::new(env!("CARGO_BIN_EXE_proem"))
        .args(["config", "print-default"])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(
        proem_core::Config::from_toml(&text).unwrap(),
        proem_core::Config::default()
    );
}

#[test]
fn help_explains_every_command() {
    let out = Command::new(env!("CARGO_BIN_EXE_proem"))
        .arg("--help")
        .output()
        .unwrap();
    let text = stdout(&out);
    for cmd in ["serve", "migrate", "config", "admin"] {
        assert!(text.contains(cmd), "{cmd} missing from --help");
    }
}

#[tokio::test]
async fn serve_with_an_unknown_config_key_fails_naming_it() {
    let db = TestDb::new().await;
    let path = db.dir.path().join("bad.toml");
    std::fs::write(&path, "listen = \"127.0.0.1:0\"\nlisten_port = 3\n").unwrap();
    let out = proem(&db, &["serve", "--config", path.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("listen_port"));
}

#[tokio::test]
async fn migrate_reports_the_schema_version() {
    let db = TestDb::new().await;
    let out = proem(&db, &["migrate"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("schema version"));
}

#[tokio::test]
async fn serve_answers_health_and_stops_on_sigterm() {
    let db = TestDb::new().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_proem"))
        .args(["serve", "--listen", &listen])
        .env("PROEM_DATABASE_URL", &db.url)
        .env("PROEM_DATA_DIR", db.dir.path().join("data"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("http://{listen}/readyz")).send().await {
            ready = r.status() == 200;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "proem serve never answered /readyz");
    let health = http
        .get(format!("http://{listen}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let mut exited = None;
    for _ in 0..100 {
        if let Some(status) = child.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = exited.unwrap_or_else(|| {
        let _ = child.kill();
        panic!("proem serve did not exit on SIGTERM");
    });
    assert!(status.success(), "{status}");
}
