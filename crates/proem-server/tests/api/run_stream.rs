//! How a run's stream relates to its client: a client that stops reading does not hold the run
//! up, and silences carry keep-alive comments.

use std::time::{Duration, Instant};

use proem_testkit::Scenario;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use super::run_support::{RunFixture, parse_sse, text_of};

/// Sends a run request on a socket whose receive buffer is as small as the kernel allows, and
/// never reads from it: the server's writes back up as soon as its own buffers are full.
async fn run_without_reading(f: &RunFixture) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(1024).unwrap();
    let mut stream = socket.connect(f.server.addr).await.unwrap();
    let body = json!({"userInput": "an article", "stream": true}).to_string();
    let request = format!(
        "POST /api/v2/public/prompts/{}/run HTTP/1.1\r\nhost: {}\r\nx-api-key: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        f.prompt,
        f.server.addr,
        f.key,
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

#[tokio::test]
async fn a_run_whose_client_stops_reading_still_runs_to_its_record() {
    let f = RunFixture::new().await;
    // 9,000 tokens of 200 bytes: far more than the socket buffers between the server and a
    // client that reads nothing hold.
    let token = "x".repeat(199) + " ";
    f.upstream
        .push(Scenario::text(std::iter::repeat_n(token.clone(), 9000)));
    let stalled = run_without_reading(&f).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let records = loop {
        let page: Value = f
            .get(&format!("/records?promptId={}", f.prompt))
            .await
            .json()
            .await
            .unwrap();
        if page["items"].as_array().is_some_and(|d| !d.is_empty()) {
            break page;
        }
        assert!(
            Instant::now() < deadline,
            "the run waited for a client that does not read"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let record_id = records["items"][0]["id"].as_str().unwrap();
    let record: Value = f
        .get(&format!("/records/{record_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        record["finalCopiedOutput"].as_str().map(str::len),
        Some(9000 * token.len())
    );
    drop(stalled);
}

#[tokio::test]
async fn a_silent_run_stream_carries_keep_alive_comments() {
    let f = RunFixture::with(proem_core::catalog::ProviderKind::OpenaiChat, |c| {
        c.http.sse_keep_alive_secs = 1;
    })
    .await;
    f.upstream.push(
        Scenario::text(["after", " a pause"]).with_time_to_first_token(Duration::from_millis(2500)),
    );
    let response = f
        .post(
            &format!("/prompts/{}/run", f.prompt),
            json!({"userInput": "an article", "stream": true}),
        )
        .await;
    let text = response.text().await.unwrap();
    // One comment after each second of silence: two before the first token, none after it.
    let (before, after) = text
        .split_once("event: response.output_text.delta")
        .unwrap();
    let comments = |s: &str| s.lines().filter(|line| *line == ":").count();
    assert_eq!(comments(before), 2, "{text}");
    assert_eq!(comments(after), 0, "{text}");
    assert_eq!(text_of(&parse_sse(&text)), "after a pause");
}
