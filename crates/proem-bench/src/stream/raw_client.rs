//! The crowd rounds' client: one HTTP/1.1 request per connection over a bare socket
//! (`connection: close`), read until the server closes it. Through reqwest every chunk costs a
//! hand-over between two tasks (its connection's task reads the socket, the caller's reads the
//! body), and the harness's core, which also runs the fake upstream, saturated before 1,000
//! streams with it, before any server under test did.

use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Reader, Trace, frames_in};

/// A POST with a JSON body, ready to write.
pub(super) struct Request {
    addr: String,
    message: Vec<u8>,
}

impl Request {
    pub(super) fn post(url: &str, headers: &[(&str, &str)], body: &serde_json::Value) -> Self {
        let url = reqwest::Url::parse(url).expect("a bench URL");
        let addr = format!(
            "{}:{}",
            url.host_str().expect("a host"),
            url.port_or_known_default().expect("a port")
        );
        let body = body.to_string();
        let mut head = format!(
            "POST {} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\naccept: text/event-stream\r\ncontent-length: {}\r\nconnection: close\r\n",
            url.path(),
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        head.push_str(&body);
        Self {
            addr,
            message: head.into_bytes(),
        }
    }
}

/// Sends `request` and reads the stream to its end. The response head and the chunk sizes of
/// the body pass through the frame scan unnoticed: frames are told by what they contain.
pub(super) async fn one(request: &Request) -> Trace {
    let mut reader = Reader::new(Instant::now());
    let mut socket = TcpStream::connect(&request.addr).await.expect("connect");
    socket.set_nodelay(true).expect("nodelay");
    socket.write_all(&request.message).await.expect("send");
    let mut buffer = Vec::with_capacity(16 * 1024);
    while socket.read_buf(&mut buffer).await.unwrap_or(0) > 0 {
        let consumed = frames_in(&buffer, |frame| reader.frame(frame));
        buffer.drain(..consumed);
    }
    reader.trace
}
