//! The streaming half of a call, as explicit stages over the response body:
//!
//! 1. [`Watchdog`]: body chunks, failing when the first byte or the next chunk is late;
//! 2. [`sse::Parser`]: chunks → SSE frames, borrowed from the buffered body;
//! 3. [`Relay`]: frames → the provider's [`Decode`] → [`Event`]s, ending at the completion marker.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use tokio::time::{Instant, Sleep};

use crate::error::LlmError;
use crate::sse::{self, SseError};
use crate::{Event, EventStream, TimeoutPhase, UpstreamClass};

/// What a provider makes of its upstream's SSE frames.
pub(crate) trait Decode: Send + Unpin + 'static {
    /// Handles one frame, pushing the events it yields (zero, one or two) onto `out`. The frame
    /// is borrowed from the body's buffer: an event keeps only what it copies.
    fn frame(&mut self, event: &str, data: &str, out: &mut VecDeque<Event>) -> Result<Flow, Fault>;

    /// Whether the upstream has started producing output, after which it bills the call.
    fn output_started(&self) -> bool;

    /// The body ended without the completion marker. Lenient decoders may still call the
    /// stream complete (pushing what they held back) and return true.
    fn complete_at_eof(&mut self, _out: &mut VecDeque<Event>) -> bool {
        false
    }
}

/// Whether the stream goes on after a frame.
pub(crate) enum Flow {
    Continue,
    /// The completion marker: nothing after it matters.
    Done,
}

/// A decoder's reason to stop, before the relay knows whether the call was billed.
pub(crate) enum Fault {
    /// The frame is not what the protocol says.
    Protocol(String),
    /// The upstream reported an error inside the stream.
    Upstream {
        class: UpstreamClass,
        excerpt: String,
    },
}

impl Fault {
    fn into_error(self, charged: bool) -> LlmError {
        match self {
            Fault::Protocol(detail) => LlmError::Protocol { detail, charged },
            Fault::Upstream { class, excerpt } => LlmError::Upstream {
                class,
                excerpt,
                charged,
            },
        }
    }
}

/// Relays `response`'s body through `decoder`. The first chunk is due by `first_byte_deadline`,
/// each later one within `idle` of the previous.
pub(crate) fn relay<D: Decode>(
    response: reqwest::Response,
    decoder: D,
    first_byte_deadline: Instant,
    idle: Duration,
) -> EventStream {
    let body = Watchdog {
        inner: Box::pin(response.bytes_stream()),
        timer: Box::pin(tokio::time::sleep_until(first_byte_deadline)),
        deadline: first_byte_deadline,
        idle,
        phase: TimeoutPhase::FirstByte,
        fired: false,
    };
    Box::pin(Relay {
        body,
        parser: sse::Parser::default(),
        decoder,
        // Two slots cover the most a frame yields (a relayed frame and its usage).
        pending: VecDeque::with_capacity(2),
        state: State::Streaming,
    })
}

type Body = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// Why the body stage stopped.
pub(crate) enum Transport {
    Broken,
    Timeout(TimeoutPhase),
}

/// Body chunks under a deadline. The timer is re-armed lazily: a chunk only moves `deadline`,
/// and the timer is reset when it fires early, so the timer wheel is not touched per chunk.
struct Watchdog {
    inner: Body,
    timer: Pin<Box<Sleep>>,
    deadline: Instant,
    idle: Duration,
    phase: TimeoutPhase,
    fired: bool,
}

impl Stream for Watchdog {
    type Item = Result<Bytes, Transport>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.fired {
            return Poll::Ready(None);
        }
        match this.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.deadline = Instant::now() + this.idle;
                this.phase = TimeoutPhase::Idle;
                // Lazy re-arming only works while the timer is not later than the deadline;
                // the first-byte timeout may be longer than the idle one.
                if this.deadline < this.timer.deadline() {
                    let deadline = this.deadline;
                    this.timer.as_mut().reset(deadline);
                }
                return Poll::Ready(Some(Ok(chunk)));
            }
            Poll::Ready(Some(Err(err))) => {
                tracing::debug!(error = %err, "provider body broke");
                return Poll::Ready(Some(Err(Transport::Broken)));
            }
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        loop {
            if this.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if Instant::now() >= this.deadline {
                this.fired = true;
                return Poll::Ready(Some(Err(Transport::Timeout(this.phase))));
            }
            // Chunks arrived since the timer was armed: wait for the moved deadline instead.
            let deadline = this.deadline;
            this.timer.as_mut().reset(deadline);
        }
    }
}

enum State {
    Streaming,
    /// The completion marker was seen; `pending` drains, then the stream ends.
    Completed,
    /// Everything was yielded, the error included.
    Finished,
}

struct Relay<D> {
    body: Watchdog,
    parser: sse::Parser,
    decoder: D,
    pending: VecDeque<Event>,
    state: State,
}

impl<D: Decode> Relay<D> {
    fn fail(&mut self, error: LlmError) -> Poll<Option<Result<Event, LlmError>>> {
        self.state = State::Finished;
        self.pending.clear();
        Poll::Ready(Some(Err(error)))
    }

    /// After the completion marker, reads what is already buffered so the body reaches its end
    /// and the connection can go back to the pool; never waits.
    fn drain_ready(&mut self, cx: &mut Context<'_>) {
        for _ in 0..4 {
            match Pin::new(&mut self.body).poll_next(cx) {
                Poll::Ready(Some(Ok(_))) => continue,
                Poll::Ready(_) | Poll::Pending => return,
            }
        }
    }
}

impl<D: Decode> Stream for Relay<D> {
    type Item = Result<Event, LlmError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(event) = this.pending.pop_front() {
                return Poll::Ready(Some(Ok(event)));
            }
            match this.state {
                State::Streaming => {}
                State::Completed => {
                    this.drain_ready(cx);
                    this.state = State::Finished;
                    return Poll::Ready(None);
                }
                State::Finished => return Poll::Ready(None),
            }
            let frame = match this.parser.next_frame() {
                Ok(frame) => frame,
                Err(err) => {
                    let charged = this.decoder.output_started();
                    return this.fail(malformed(&err, charged));
                }
            };
            if let Some(frame) = frame {
                match this
                    .decoder
                    .frame(frame.event, &frame.data, &mut this.pending)
                {
                    Ok(Flow::Continue) => {}
                    Ok(Flow::Done) => this.state = State::Completed,
                    Err(fault) => {
                        let charged = this.decoder.output_started();
                        return this.fail(fault.into_error(charged));
                    }
                }
                continue;
            }
            let error = match Pin::new(&mut this.body).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => match this.parser.push(&chunk) {
                    Ok(()) => continue,
                    Err(err) => malformed(&err, this.decoder.output_started()),
                },
                Poll::Ready(Some(Err(Transport::Timeout(phase)))) => LlmError::Timeout {
                    phase,
                    charged: this.decoder.output_started(),
                },
                Poll::Ready(Some(Err(Transport::Broken))) => LlmError::Interrupted {
                    charged: this.decoder.output_started(),
                },
                Poll::Ready(None) => {
                    if this.decoder.complete_at_eof(&mut this.pending) {
                        this.state = State::Completed;
                        continue;
                    }
                    LlmError::Interrupted {
                        charged: this.decoder.output_started(),
                    }
                }
            };
            return this.fail(error);
        }
    }
}

fn malformed(err: &SseError, charged: bool) -> LlmError {
    let detail = match err {
        SseError::Utf8 => "the event stream is not valid UTF-8".to_owned(),
        SseError::TooLarge => format!(
            "an event stream frame is larger than {} MB",
            sse::FRAME_CAP_BYTES / (1024 * 1024)
        ),
    };
    LlmError::Protocol { detail, charged }
}
