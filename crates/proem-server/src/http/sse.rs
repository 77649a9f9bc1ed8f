//! Server-sent events for runs: each engine event becomes one SSE frame as soon as it arrives;
//! a comment (`:`) fills every `http.sse_keep_alive_secs` of silence. The stream ends after the
//! turn's last event. Dropping the response (a client that went away) does not stop the turn.
//!
//! Frames are written here rather than with axum's `Sse`, whose keep-alive re-arms its timer on
//! every event: a timer-wheel update per relayed token. This timer only moves when it fires.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use futures::Stream;
use proem_core::runs::{RunEvent, TurnStream};
use tokio::time::{Instant, Sleep};

/// One event as its SSE frame. Data with line breaks (an upstream's multi-line `data`) becomes
/// one `data:` line per line, as SSE requires.
fn frame(e: &RunEvent) -> Bytes {
    let mut out = Vec::with_capacity(e.event.len() + e.data.len() + 16);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(e.event.as_bytes());
    for line in e.data.split('\n') {
        out.extend_from_slice(b"\ndata: ");
        out.extend_from_slice(line.as_bytes());
    }
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

const KEEP_ALIVE_COMMENT: &[u8] = b":\n\n";

/// A turn's events as SSE frames, with keep-alive comments in silences.
struct Frames {
    events: TurnStream,
    interval: Duration,
    /// When a comment is due unless an event goes out first.
    due: Instant,
    timer: Pin<Box<Sleep>>,
}

impl Stream for Frames {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match Pin::new(&mut this.events).poll_next(cx) {
            Poll::Ready(Some(event)) => {
                this.due = Instant::now() + this.interval;
                return Poll::Ready(Some(Ok(frame(&event))));
            }
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        loop {
            if this.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let now = Instant::now();
            if now >= this.due {
                this.due = now + this.interval;
                let due = this.due;
                this.timer.as_mut().reset(due);
                return Poll::Ready(Some(Ok(Bytes::from_static(KEEP_ALIVE_COMMENT))));
            }
            // Events went out since the timer was armed: wait for the moved deadline.
            let due = this.due;
            this.timer.as_mut().reset(due);
        }
    }
}

fn event_stream(body: Body) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The SSE response of a run or revise; `keep_alive` is the silence before a comment.
pub fn stream(events: TurnStream, keep_alive: Duration) -> Response {
    let due = Instant::now() + keep_alive;
    event_stream(Body::from_stream(Frames {
        events,
        interval: keep_alive,
        due,
        timer: Box::pin(tokio::time::sleep_until(due)),
    }))
}

/// A stream of one event (an idempotent replay's `run_replayed`).
pub fn one_event(event: RunEvent) -> Response {
    event_stream(Body::from(frame(&event)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_with_line_breaks_in_its_data_is_one_data_line_per_line() {
        let event = RunEvent::relay("response.created".into(), "{\"a\":\n1}".into(), None);
        assert_eq!(
            &frame(&event)[..],
            b"event: response.created\ndata: {\"a\":\ndata: 1}\n\n"
        );
    }
}
