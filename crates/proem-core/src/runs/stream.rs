//! A turn's events for whoever consumes them (the SSE response, an MCP tool call), and who
//! drives the turn's future.
//!
//! While the consumer keeps up, it polls the turn itself: an upstream chunk then wakes one task,
//! the consumer's, which decodes and sends the frame in the same poll, instead of waking a turn
//! task that hands the frame over to the consumer's through a channel. That hand-over put every
//! token through the runtime's queue twice: with a thousand streams on one core, tokens of
//! hundreds of them waited past 80 ms behind it (README, "Performance").
//!
//! The turn never depends on its caller, though: a watcher task takes the turn's future and
//! drives it to its end as soon as the consumer goes away (a client that disconnected), and
//! whenever the turn has not been polled for [`STALL`] (a client that stopped reading and so
//! stopped asking for frames, or an upstream that is silent that long, where taking over costs
//! nothing). From then on the turn's events reach the consumer through the channel, as before.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures::Stream;
use futures::task::AtomicWaker;
use tokio::sync::{Notify, mpsc};
use tokio_util::task::TaskTracker;

use super::RunEvent;

/// How long a turn may go unpolled by its consumer before the watcher drives it.
pub(crate) const STALL: Duration = Duration::from_secs(1);

pub(crate) type Turn = Pin<Box<dyn Future<Output = ()> + Send>>;

struct Inner {
    /// The turn's future while the consumer drives it; `None` once the watcher has it or it
    /// has finished.
    turn: Option<Turn>,
    /// Polls of the turn so far: the watcher compares them a [`STALL`] apart.
    polls: u64,
    consumer_gone: bool,
}

/// What the consumer's polls share with the watcher; also the waker the consumer polls the turn
/// with, which notes that the turn has something to do before it wakes the consumer's task.
struct Shared {
    inner: Mutex<Inner>,
    /// Tells the watcher that the turn finished or its consumer went away.
    changed: Notify,
    /// The turn was woken since the consumer last polled it.
    woken: AtomicBool,
    /// The consumer's task, woken with the turn, and when the watcher takes the turn so that it
    /// reads the channel instead.
    consumer: AtomicWaker,
}

impl Wake for Shared {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.consumer.wake();
    }
}

impl Shared {
    /// A turn that panicked was dropped under the lock, so what the lock guards is whole.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The events of one turn, `run_session` first. Dropping it lets the turn run on.
pub struct TurnStream {
    shared: Arc<Shared>,
    /// `shared` as a waker: the turn's sources keep it between polls, unchanged.
    waker: Waker,
    events: mpsc::UnboundedReceiver<RunEvent>,
    /// The turn is the watcher's (or over): the channel is the only source now.
    detached: bool,
}

impl TurnStream {
    /// Wraps `turn`, which sends its events to the sender of `events`.
    pub(crate) fn new(turn: Turn, events: mpsc::UnboundedReceiver<RunEvent>) -> Self {
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                turn: Some(turn),
                polls: 0,
                consumer_gone: false,
            }),
            changed: Notify::new(),
            woken: AtomicBool::new(false),
            consumer: AtomicWaker::new(),
        });
        Self {
            waker: Waker::from(shared.clone()),
            shared,
            events,
            detached: false,
        }
    }

    /// Polls the turn once from the calling task (a provider call hands its request to a
    /// connection on its first poll), then starts the watcher on `tasks`.
    pub(crate) async fn start(&mut self, tasks: &TaskTracker) {
        std::future::poll_fn(|cx| {
            self.shared.consumer.register(cx.waker());
            self.poll_turn();
            Poll::Ready(())
        })
        .await;
        if !self.detached {
            tasks.spawn(watch(self.shared.clone()));
        }
    }

    /// Polls the turn, with `shared` as its waker, if the consumer still drives it.
    fn poll_turn(&mut self) {
        if self.detached {
            return;
        }
        let mut inner = self.shared.lock();
        let inner = &mut *inner;
        let Some(turn) = inner.turn.as_mut() else {
            self.detached = true;
            return;
        };
        inner.polls += 1;
        let mut cx = Context::from_waker(&self.waker);
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| turn.as_mut().poll(&mut cx)));
        match polled {
            Ok(Poll::Pending) => return,
            Ok(Poll::Ready(())) => {}
            // What a panicking task would do: the turn ends, its sender with it.
            Err(_) => tracing::error!("a run turn panicked"),
        }
        inner.turn = None;
        self.detached = true;
        self.shared.changed.notify_one();
    }
}

impl Stream for TurnStream {
    type Item = RunEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<RunEvent>> {
        let this = &mut *self;
        // While the turn is driven from here, its events only appear when it is polled, so the
        // channel is read without registering a waker (that would wake this task on its own
        // sends), and the turn is only polled when something woke it: hyper polls a body until
        // it is pending, and a second poll of the whole turn per frame would find nothing.
        if !this.detached {
            if let Ok(event) = this.events.try_recv() {
                return Poll::Ready(Some(event));
            }
            // Registered before the flag is read, so a wake in between is not lost.
            this.shared.consumer.register(cx.waker());
            if this.shared.woken.swap(false, Ordering::AcqRel) {
                this.poll_turn();
            }
            if let Ok(event) = this.events.try_recv() {
                return Poll::Ready(Some(event));
            }
            if !this.detached {
                return Poll::Pending;
            }
        }
        this.events.poll_recv(cx)
    }
}

impl Drop for TurnStream {
    fn drop(&mut self) {
        if !self.detached {
            self.shared.lock().consumer_gone = true;
            self.shared.changed.notify_one();
        }
    }
}

/// Takes the turn when its consumer is gone or has not polled it for [`STALL`], and drives it
/// to its end; returns once the turn is over.
async fn watch(shared: Arc<Shared>) {
    let mut seen = None;
    loop {
        let taken = {
            let mut inner = shared.lock();
            if inner.turn.is_none() {
                return;
            }
            if inner.consumer_gone || seen == Some(inner.polls) {
                let turn = inner.turn.take();
                drop(inner);
                // The consumer's next poll finds the turn gone and reads the channel instead.
                Wake::wake_by_ref(&shared);
                turn
            } else {
                seen = Some(inner.polls);
                None
            }
        };
        if let Some(turn) = taken {
            turn.await;
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(STALL) => {}
            () = shared.changed.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use futures::StreamExt;
    use tokio::sync::oneshot;

    use super::*;

    /// A turn that relays each line of `source` as an event, counting its polls, and reports
    /// on `finished` when `source` closes.
    fn relaying_turn(
        mut source: mpsc::UnboundedReceiver<&'static str>,
        polls: Arc<AtomicUsize>,
        finished: oneshot::Sender<()>,
    ) -> TurnStream {
        let (tx, rx) = mpsc::unbounded_channel();
        let relay = async move {
            while let Some(line) = source.recv().await {
                let _ = tx.send(RunEvent::relay("line".into(), line.into(), None));
            }
            let _ = finished.send(());
        };
        let counted = async move {
            let mut relay = std::pin::pin!(relay);
            std::future::poll_fn(|cx| {
                polls.fetch_add(1, Ordering::Relaxed);
                relay.as_mut().poll(cx)
            })
            .await;
        };
        TurnStream::new(Box::pin(counted), rx)
    }

    #[tokio::test(start_paused = true)]
    async fn a_turn_its_consumer_reads_is_polled_by_the_consumer_once_per_wake() {
        let (source, lines) = mpsc::unbounded_channel();
        let polls = Arc::new(AtomicUsize::new(0));
        let (finished, _done) = oneshot::channel();
        let mut stream = relaying_turn(lines, polls.clone(), finished);
        stream.start(&TaskTracker::new()).await;
        for line in ["a", "b", "c"] {
            source.send(line).unwrap();
            assert_eq!(stream.next().await.map(|e| e.data), Some(line.to_owned()));
            // Asked again, as hyper does until a body is pending: nothing woke the turn.
            assert!(futures::poll!(stream.next()).is_pending());
            tokio::time::sleep(STALL / 2).await;
        }
        assert!(
            stream.shared.lock().turn.is_some(),
            "the watcher took a turn its consumer kept up with"
        );
        drop(source);
        assert!(stream.next().await.is_none());
        // The first poll, one per line and one for the end: none for nothing.
        assert_eq!(polls.load(Ordering::Relaxed), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn a_turn_its_consumer_stops_polling_is_driven_by_the_watcher() {
        let (source, lines) = mpsc::unbounded_channel();
        let (finished, done) = oneshot::channel();
        let mut stream = relaying_turn(lines, Arc::new(AtomicUsize::new(0)), finished);
        stream.start(&TaskTracker::new()).await;
        source.send("a").unwrap();
        source.send("b").unwrap();
        drop(source);
        let started = tokio::time::Instant::now();
        done.await.unwrap();
        // Paused time only moves when every task waits: the watcher took over after a stall.
        assert!(started.elapsed() >= STALL);
        let events: Vec<_> = stream.map(|e| e.data).collect().await;
        assert_eq!(events, ["a", "b"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_turn_whose_consumer_is_dropped_runs_to_its_end_at_once() {
        let (source, lines) = mpsc::unbounded_channel();
        let (finished, done) = oneshot::channel();
        let mut stream = relaying_turn(lines, Arc::new(AtomicUsize::new(0)), finished);
        stream.start(&TaskTracker::new()).await;
        drop(stream);
        source.send("a").unwrap();
        drop(source);
        let started = tokio::time::Instant::now();
        done.await.unwrap();
        assert!(started.elapsed() < STALL);
    }
}
