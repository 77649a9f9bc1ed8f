//! Server-sent events for runs: each engine event becomes one SSE frame as soon as it arrives;
//! comment keep-alives fill long silences. The stream ends when the run's task has sent its last
//! event. Dropping the response (a client that went away) does not stop the task.

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use proem_core::runs::RunEvent;
use tokio::sync::mpsc::UnboundedReceiver;

const KEEP_ALIVE: Duration = Duration::from_secs(15);

fn frame(e: RunEvent) -> Result<Event, Infallible> {
    Ok(Event::default().event(e.event).data(e.data))
}

fn events(mut rx: UnboundedReceiver<RunEvent>) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|e| e.map(frame)))
}

/// The SSE response of a run or revise.
pub fn stream(rx: UnboundedReceiver<RunEvent>) -> Response {
    Sse::new(events(rx))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

/// A stream of one event (an idempotent replay's `run_replayed`).
pub fn one_event(event: RunEvent) -> Response {
    Sse::new(futures::stream::iter([frame(event)])).into_response()
}
