//! How a run starts: the provider request goes out before the session row is written, the row
//! commits before `run_session` reaches the client, and on SQLite the row written on the calling
//! thread gives way to another writer of the database file instead of failing.

use std::time::{Duration, Instant};

use proem_testkit::Scenario;
use serde_json::json;
use sqlx::{Connection, Executor};

use super::run_support::{RunFixture, find, names, parse_sse, text_of};

/// Holds the lock a session insert needs, on a connection of its own, until dropped or released.
struct WriteLock(sqlx::AnyConnection);

impl WriteLock {
    async fn take(f: &RunFixture) -> Self {
        let mut conn = sqlx::AnyConnection::connect(&f.server.db.url)
            .await
            .unwrap();
        let statement = if f.server.db.is_postgres() {
            // INSERT takes ROW EXCLUSIVE, which SHARE conflicts with.
            "BEGIN; LOCK TABLE run_sessions IN SHARE MODE"
        } else {
            // SQLite has one writer: this connection now holds the file's write lock.
            "BEGIN IMMEDIATE"
        };
        conn.execute(sqlx::AssertSqlSafe(statement)).await.unwrap();
        Self(conn)
    }

    async fn release(mut self) {
        self.0.execute("ROLLBACK").await.unwrap();
        self.0.close().await.unwrap();
    }
}

#[tokio::test]
async fn a_run_calls_the_provider_while_its_session_row_waits_for_the_database() {
    let f = RunFixture::new().await;
    f.upstream.push(Scenario::text(["Tides", " turn."]));
    let lock = WriteLock::take(&f).await;
    let run = tokio::spawn({
        let request = f
            .server
            .http
            .post(f.url(&format!("/prompts/{}/run", f.prompt)))
            .header("x-api-key", &f.key)
            .json(&json!({"userInput": "an article", "stream": true}));
        async move { request.send().await.unwrap().text().await.unwrap() }
    });
    // The provider has the request while the row cannot be written yet.
    let deadline = Instant::now() + Duration::from_secs(10);
    while f.upstream.requests().is_empty() {
        assert!(Instant::now() < deadline, "the provider was not called");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        !run.is_finished(),
        "the stream ended before its row was written"
    );
    lock.release().await;

    let events = parse_sse(&run.await.unwrap());
    assert_eq!(
        names(&events),
        vec![
            "run_session",
            "response.output_text.delta",
            "response.output_text.delta",
            "run_completed",
            "record_finalized"
        ]
    );
    assert_eq!(text_of(&events), "Tides turn.");
    let run_id = find(&events, "run_session")["runId"].as_str().unwrap();
    let run = f.get(&format!("/runs/{run_id}")).await;
    assert_eq!(run.status(), 200);
    assert_eq!(f.upstream.requests().len(), 1);
}

#[tokio::test]
async fn a_run_session_is_readable_as_soon_as_the_client_has_run_session() {
    let f = RunFixture::new().await;
    // The model answers only after a pause, so the client reads run_session well before the end.
    f.upstream
        .push(Scenario::text(["later"]).with_time_to_first_token(Duration::from_millis(300)));
    let mut response = f
        .server
        .http
        .post(f.url(&format!("/prompts/{}/run", f.prompt)))
        .header("x-api-key", &f.key)
        .json(&json!({"userInput": "an article", "stream": true, "autoFinalize": false}))
        .send()
        .await
        .unwrap();
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = response.chunk().await.unwrap().unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let first = &parse_sse(&text)[0];
    assert_eq!(first.event, "run_session");
    let run_id = first.data["runId"].as_str().unwrap();
    let run: serde_json::Value = f
        .get(&format!("/runs/{run_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(run["state"], "Running");
    assert_eq!(run["streamingInProgress"], true);
    while response.chunk().await.unwrap().is_some() {}
}
