//! The session's one task: it moves frames between the secure channel and
//! the shared mux state, sends a ping every keepalive interval, and runs the
//! work given to the session's [`Runner`](super::Runner) beside them.
//!
//! Each has a waker of its own ([`WakeSet`]): a wake-up polls what was
//! woken, and what one woke in the other is served within the same wake-up.
//! Reading stops while a peer's frames have queued more than
//! [`READ_PAUSE_BYTES`] of answers the carrier has not taken (a ping flood
//! from a peer that does not read), and one wake-up reads at most
//! [`READ_TURN_BYTES`] before other tasks run.

use super::state::{State, next_frame};
use super::stream::{Stream, lock};
use super::{Command, MuxOptions};
use crate::secure::SecureStream;
use crate::timer::LazyTimer;
use crate::wake_set::WakeSet;
use bytes::BytesMut;
use corridor_core::yamux::HEADER_LEN;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;

/// Outgoing bytes not yet taken by the carrier beyond which the driver
/// stops reading.
const READ_PAUSE_BYTES: usize = 4 * 1024 * 1024;
/// Bytes written to the carrier between flushes at most.
///
/// Measured with `corridor bench` (one stream, 256 MiB echo): flushing every
/// 64 KiB matched the old crate's throughput; whole batches of a window or
/// more left the sender waiting for credit a round trip per window, a third
/// slower; every 128 KiB was in between.
const FLUSH_BYTES: usize = 64 * 1024;
/// Bytes one wake-up reads at most.
const READ_TURN_BYTES: usize = 1024 * 1024;
/// A read buffer kept while idle at most; a larger one is freed.
const IDLE_BUFFER_BYTES: usize = 4 * 1024;

/// The driver's parts: the carrier (with the commands), and the work beside it.
const CONNECTION: usize = 0;
const WORK: usize = 1;

/// Rounds one wake-up of the driver serves at most before other tasks run.
const MAX_ROUNDS: usize = 8;

/// What reaches the driver from the session's handles.
pub(super) struct Inputs {
    pub(super) commands: mpsc::Receiver<Command>,
    pub(super) work: mpsc::UnboundedReceiver<BoxFuture<'static, ()>>,
}

/// The carrier's side of the mux.
pub(super) struct Carrier {
    io: SecureStream,
    state: Arc<Mutex<State>>,
    inbound: mpsc::Sender<Stream>,
    /// Received bytes not yet a whole frame.
    read_buf: BytesMut,
    /// Frames taken from the state, `sent` bytes of them written.
    sending: BytesMut,
    sent: usize,
    /// Bytes written since the last flush.
    unflushed: usize,
    /// Reading waits for the carrier to take what is queued.
    paused: bool,
}

impl Carrier {
    pub(super) fn new(
        io: SecureStream,
        state: Arc<Mutex<State>>,
        inbound: mpsc::Sender<Stream>,
    ) -> Carrier {
        Carrier {
            io,
            state,
            inbound,
            read_buf: BytesMut::new(),
            sending: BytesMut::new(),
            sent: 0,
            unflushed: 0,
            paused: false,
        }
    }

    /// Reads and applies frames until the carrier has none; ready when the
    /// session ended (`Ok` at the peer's orderly end).
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), String>> {
        let mut read = 0;
        loop {
            let queued = self.apply_frames()? + (self.sending.len() - self.sent);
            self.paused = queued >= READ_PAUSE_BYTES;
            if self.paused {
                // Reading resumes once writing has handed it all to the carrier.
                return Poll::Pending;
            }
            if read >= READ_TURN_BYTES {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            if self.read_buf.capacity() - self.read_buf.len() < HEADER_LEN {
                self.read_buf.reserve(IDLE_BUFFER_BYTES);
            }
            match tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.read_buf) {
                Poll::Pending => {
                    if self.read_buf.is_empty() && self.read_buf.capacity() > IDLE_BUFFER_BYTES {
                        self.read_buf = BytesMut::new();
                    }
                    return Poll::Pending;
                }
                Poll::Ready(Ok(0)) if self.read_buf.is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(0)) => return Poll::Ready(Err("carrier_closed".to_owned())),
                Poll::Ready(Ok(n)) => read += n,
                Poll::Ready(Err(error)) => return Poll::Ready(Err(io_reason(&error))),
            }
        }
    }

    /// Applies every whole frame in the read buffer, then hands the streams
    /// the peer opened to the session; the bytes now queued to send.
    fn apply_frames(&mut self) -> Result<usize, String> {
        let mut accepted = Vec::new();
        let queued;
        {
            let mut state = lock(&self.state);
            while let Some((header, body)) =
                next_frame(&mut self.read_buf).map_err(protocol_error)?
            {
                state.on_frame(header, body).map_err(protocol_error)?;
            }
            while let Some(id) = state.accepted.pop_front() {
                accepted.push(Stream::new(self.state.clone(), id, None));
            }
            queued = state.outgoing_len();
        }
        // Outside the lock: a stream the queue refuses is dropped, which
        // resets it and takes the lock.
        for stream in accepted {
            // The state caps live inbound streams at `max_streams`, the
            // queue's size; should it still be full, dropping the stream
            // resets it.
            if self.inbound.try_send(stream).is_err() {
                tracing::debug!("inbound queue full: inbound stream reset");
            }
        }
        Ok(queued)
    }

    /// Reads and writes until both wait; ready when the session ended.
    fn poll_traffic(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), String>> {
        loop {
            if let Poll::Ready(outcome) = self.poll_read(cx) {
                return Poll::Ready(outcome);
            }
            match self.poll_write(cx) {
                Poll::Ready(Err(reason)) => return Poll::Ready(Err(reason)),
                // All of it went: reading may go on.
                Poll::Ready(Ok(())) if self.paused => continue,
                _ => return Poll::Pending,
            }
        }
    }

    /// Writes what the streams queued and flushes it; ready when all of it
    /// is with the carrier.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), String>> {
        loop {
            if self.sent == self.sending.len() {
                self.sending.clear();
                self.sent = 0;
                // The written buffer goes back to the streams to fill while
                // frames flow; once none wait, a large one is freed.
                lock(&self.state).take_outgoing(cx, &mut self.sending);
                if self.sending.is_empty() {
                    if self.sending.capacity() > IDLE_BUFFER_BYTES {
                        self.sending = BytesMut::new();
                    }
                    if self.unflushed > 0 {
                        ready!(Pin::new(&mut self.io).poll_flush(cx))
                            .map_err(|error| io_reason(&error))?;
                        self.unflushed = 0;
                    }
                    return Poll::Ready(Ok(()));
                }
            }
            // A window's worth goes out in parts: the peer reads (and
            // gives credit for) the first while the rest is on its way.
            if self.unflushed >= FLUSH_BYTES {
                ready!(Pin::new(&mut self.io).poll_flush(cx)).map_err(|error| io_reason(&error))?;
                self.unflushed = 0;
            }
            let end = self
                .sending
                .len()
                .min(self.sent + FLUSH_BYTES - self.unflushed);
            let written =
                ready!(Pin::new(&mut self.io).poll_write(cx, &self.sending[self.sent..end]))
                    .map_err(|error| io_reason(&error))?;
            if written == 0 {
                return Poll::Ready(Err("carrier_closed".to_owned()));
            }
            self.sent += written;
            self.unflushed += written;
        }
    }

    /// Sends GoAway after everything queued, flushes, and closes the carrier.
    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), String>> {
        lock(&self.state).go_away();
        ready!(self.poll_write(cx))?;
        Pin::new(&mut self.io)
            .poll_shutdown(cx)
            .map_err(|error| io_reason(&error))
    }
}

pub(super) async fn drive(
    mut carrier: Carrier,
    mut inputs: Inputs,
    options: MuxOptions,
    ended: Arc<std::sync::OnceLock<String>>,
) {
    // Every handle is gone, or close() was called.
    let mut closing = false;
    let mut close_deadline: Option<Pin<Box<tokio::time::Sleep>>> = None;
    // A zero interval would tick forever within one poll.
    let every = options.keepalive_interval.max(Duration::from_millis(1));
    let mut ticker = LazyTimer::new(tokio::time::Instant::now() + every);
    let mut running = FuturesUnordered::new();
    let wakes = WakeSet::<2>::new();
    let outcome = std::future::poll_fn(|task| {
        wakes.begin(task);
        for _ in 0..MAX_ROUNDS {
            // Work first, so that what it wrote goes out in this round.
            if wakes.take(WORK) {
                let cx = &mut wakes.context(WORK);
                while let Poll::Ready(Some(work)) = inputs.work.poll_recv(cx) {
                    running.push(work);
                }
                run_ready(&mut running, cx);
            }
            if wakes.take(CONNECTION) || closing {
                let cx = &mut wakes.context(CONNECTION);
                while ticker.poll_fired(cx) {
                    ticker.reset(tokio::time::Instant::now() + every);
                    lock(&carrier.state).ping();
                }
                if !closing {
                    closing = matches!(
                        inputs.commands.poll_recv(cx),
                        Poll::Ready(Some(Command::Close) | None)
                    );
                }
                if closing {
                    let deadline = close_deadline
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(options.close_timeout)));
                    if deadline.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Err("close_timeout".to_owned()));
                    }
                    run_ready(&mut running, &mut wakes.context(WORK));
                    if let Poll::Ready(result) = carrier.poll_close(cx) {
                        return Poll::Ready(result);
                    }
                } else if let Poll::Ready(outcome) = carrier.poll_traffic(cx) {
                    return Poll::Ready(outcome);
                }
            }
            // What the carrier read may have woken the work, and what the
            // work wrote the carrier: then another round.
            if wakes.settle() {
                return Poll::Pending;
            }
        }
        wakes.yield_now(task);
        Poll::Pending
    })
    .await;
    let reason = outcome.err().unwrap_or_else(|| "closed".to_owned());
    tracing::debug!(%reason, "session ended");
    lock(&carrier.state).end(std::io::ErrorKind::ConnectionAborted);
    let _ = ended.set(reason);
    drop(running);
    // Dropping `inputs` (at the return) closes the command queue: that
    // tells `Mux::close` and `Mux::closed` the session has ended.
}

/// Polls the work that is ready until none is.
fn run_ready(running: &mut FuturesUnordered<BoxFuture<'static, ()>>, cx: &mut Context<'_>) {
    while let Poll::Ready(Some(())) = running.poll_next_unpin(cx) {}
}

fn protocol_error(error: impl std::fmt::Display) -> String {
    format!("mux_protocol_error: {error}")
}

/// Names why the carrier failed: the suite's failure of a record, the
/// keepalive timeout, a refusal by the carrier, or its I/O error.
fn io_reason(error: &std::io::Error) -> String {
    let secure = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<corridor_core::suite::SecureError>());
    if let Some(secure) = secure {
        return secure.reason().to_owned();
    }
    if let Some(refused) = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<crate::error::CarrierError>())
    {
        return refused.0.to_owned();
    }
    match error.kind() {
        std::io::ErrorKind::TimedOut => "keepalive_timeout".to_owned(),
        std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset => {
            "carrier_closed".to_owned()
        }
        _ => format!("io: {error}"),
    }
}
