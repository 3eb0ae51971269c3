//! Streams over the secure channel: the `yamux` crate, driven by one task.
//!
//! The crate's `Connection` makes progress only while it is polled, so one
//! task owns it: it opens outbound streams on request, hands inbound streams
//! to the session through a queue bounded by the stream limit,
//! and wakes every few seconds so the crate's pings go out on an idle session.
//! Work given to its [`Runner`] (the RPC stream's reader and writer) runs on
//! that same task, so a message read from the carrier reaches its handler,
//! and an answer reaches the carrier, without waking another thread. Each
//! has a waker of its own ([`WakeSet`]): a wake-up polls what was woken,
//! and what one woke in the other is served within the same wake-up.
//! Windows are fixed at 256 KiB per stream: flowersec v1 refuses a window
//! update that would take its send window above that, and the crate grows
//! windows unless the connection window is exactly streams x 256 KiB. (Growth
//! between corridor peers was measured: with 256 KiB frames it gained nothing
//! on one stream and cost a third of the 8-stream throughput.)

use crate::error::Error;
use crate::secure::SecureStream;
use crate::timer::LazyTimer;
use crate::wake_set::WakeSet;
use corridor_core::Role;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt, TokioAsyncReadCompatExt};

/// yamux's per-stream window, which flowersec v1 also assumes.
const STREAM_WINDOW: usize = 256 * 1024;

/// Bounds of the multiplexer.
#[derive(Clone, Copy, Debug)]
pub struct MuxOptions {
    /// Streams the peer may have open towards us at once.
    pub max_streams: usize,
    /// Streams we open at once (flowersec accepts 32 inbound).
    pub max_outbound_streams: usize,
    /// Inbound streams waiting for `accept_stream`.
    pub accept_backlog: usize,
    /// Largest yamux data frame we send (flowersec accepts up to 256 KiB).
    pub frame_bytes: usize,
    /// How often an idle session is woken so its keepalive ping goes out.
    pub keepalive_interval: Duration,
    /// How long a close may take to flush before the carrier is dropped
    /// (a peer that stopped reading would otherwise hold it forever).
    pub close_timeout: Duration,
}

impl Default for MuxOptions {
    fn default() -> Self {
        MuxOptions {
            max_streams: 64,
            max_outbound_streams: 32,
            accept_backlog: 32,
            // One frame per window: measured 1.3x the single-stream throughput
            // of 64 KiB frames, and flowersec accepts frames up to 256 KiB.
            frame_bytes: STREAM_WINDOW,
            keepalive_interval: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
        }
    }
}

enum Command {
    Open(oneshot::Sender<Result<yamux::Stream, Error>>),
    Close(oneshot::Sender<()>),
}

/// The handle other tasks use to open streams and close the session.
#[derive(Clone, Debug)]
pub(crate) struct Mux {
    commands: mpsc::Sender<Command>,
    runner: Runner,
    outbound: Arc<Semaphore>,
    ended: Arc<std::sync::OnceLock<String>>,
}

/// Runs work on the driver's task. It holds no [`Mux`], so work that keeps
/// a `Runner` does not keep the session open; work still running when the
/// session ends is dropped.
#[derive(Clone, Debug)]
pub(crate) struct Runner {
    work: mpsc::UnboundedSender<BoxFuture<'static, ()>>,
}

impl Runner {
    /// Runs `work` beside the connection; dropped at once if the session has ended.
    pub(crate) fn run(&self, work: impl Future<Output = ()> + Send + 'static) {
        let _ = self.work.send(Box::pin(work));
    }
}

impl Mux {
    /// Starts the driver task; inbound streams arrive on the returned queue.
    pub(crate) fn start(
        io: SecureStream,
        role: Role,
        options: MuxOptions,
    ) -> (Mux, mpsc::Receiver<yamux::Stream>) {
        let mut config = yamux::Config::default();
        config.set_max_num_streams(options.max_streams);
        config.set_max_connection_receive_window(Some(options.max_streams * STREAM_WINDOW));
        config.set_split_send_size(options.frame_bytes);
        let mode = match role {
            Role::Client => yamux::Mode::Client,
            Role::Server => yamux::Mode::Server,
        };
        let connection = yamux::Connection::new(io.compat(), config, mode);
        let (commands, command_rx) = mpsc::channel(64);
        let (work, work_rx) = mpsc::unbounded_channel();
        // Every inbound stream is a live yamux stream, so `max_streams` bounds
        // this queue already; the accept backlog is applied once, after the
        // stream's hello, where the session knows what the stream is for.
        // (Sized to the backlog, a burst of streams was reset here while the
        // backlog itself still had room.)
        let (inbound_tx, inbound_rx) = mpsc::channel(options.max_streams.max(1));
        let ended = Arc::new(std::sync::OnceLock::new());
        tokio::spawn(drive(
            connection,
            Inputs {
                commands: command_rx,
                work: work_rx,
            },
            inbound_tx,
            options,
            ended.clone(),
        ));
        let mux = Mux {
            commands,
            runner: Runner { work },
            outbound: Arc::new(Semaphore::new(options.max_outbound_streams.max(1))),
            ended,
        };
        (mux, inbound_rx)
    }

    /// Opens a stream, waiting while the outbound limit is reached.
    pub(crate) async fn open(&self) -> Result<Stream, Error> {
        let permit = self
            .outbound
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::SessionClosed)?;
        let (reply, opened) = oneshot::channel();
        self.commands
            .send(Command::Open(reply))
            .await
            .map_err(|_| Error::SessionClosed)?;
        let stream = opened.await.map_err(|_| Error::SessionClosed)??;
        Ok(Stream::new(stream, Some(permit)))
    }

    /// Closes the session: flushes what streams wrote, sends GoAway, closes the carrier.
    pub(crate) async fn close(&self) {
        let (reply, done) = oneshot::channel();
        if self.commands.send(Command::Close(reply)).await.is_ok() {
            let _ = done.await;
        }
    }

    /// Runs work on the driver's task.
    pub(crate) fn runner(&self) -> Runner {
        self.runner.clone()
    }

    /// Whether the driver has stopped.
    pub(crate) fn is_closed(&self) -> bool {
        self.commands.is_closed()
    }

    /// Why the session ended, once it has: `closed` for an orderly end, else
    /// the name of the failure (`decrypt_failed`, `keepalive_timeout`, ...).
    pub(crate) fn end_reason(&self) -> Option<&str> {
        self.ended.get().map(String::as_str)
    }

    /// Waits until the driver stops.
    pub(crate) async fn closed(&self) {
        self.commands.closed().await
    }
}

type Connection = yamux::Connection<Compat<SecureStream>>;

/// The driver's parts, each woken on its own ([`WakeSet`]): the connection
/// (with the commands and the keepalive tick) and the work beside it.
const CONNECTION: usize = 0;
const WORK: usize = 1;

/// Rounds one wake-up of the driver serves at most before other tasks run.
const MAX_ROUNDS: usize = 8;

/// What reaches the driver from the session's handles.
struct Inputs {
    commands: mpsc::Receiver<Command>,
    work: mpsc::UnboundedReceiver<BoxFuture<'static, ()>>,
}

async fn drive(
    mut connection: Connection,
    mut inputs: Inputs,
    inbound: mpsc::Sender<yamux::Stream>,
    options: MuxOptions,
    ended: Arc<std::sync::OnceLock<String>>,
) {
    let mut opening: VecDeque<oneshot::Sender<Result<yamux::Stream, Error>>> = VecDeque::new();
    // Some(None): every handle is gone; Some(Some(reply)): close() was called.
    let mut closing: Option<Option<oneshot::Sender<()>>> = None;
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
            if wakes.take(CONNECTION) || closing.is_some() {
                let cx = &mut wakes.context(CONNECTION);
                // The tick only wakes us: polling the connection sends a due ping.
                while ticker.poll_fired(cx) {
                    ticker.reset(tokio::time::Instant::now() + every);
                }
                while closing.is_none() {
                    match inputs.commands.poll_recv(cx) {
                        Poll::Ready(Some(Command::Open(reply))) => opening.push_back(reply),
                        Poll::Ready(Some(Command::Close(reply))) => closing = Some(Some(reply)),
                        Poll::Ready(None) => closing = Some(None),
                        Poll::Pending => break,
                    }
                }
                if closing.is_some() {
                    let deadline = close_deadline
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(options.close_timeout)));
                    if deadline.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Err("close_timeout".to_owned()));
                    }
                    run_ready(&mut running, &mut wakes.context(WORK));
                    if let Poll::Ready(result) = connection.poll_close(cx) {
                        return Poll::Ready(result.map_err(|error| error.to_string()));
                    }
                } else if let Poll::Ready(outcome) =
                    poll_connection(&mut connection, &mut opening, &inbound, cx)
                {
                    return Poll::Ready(outcome);
                }
            }
            // What the connection read may have woken the work, and what the
            // work wrote the connection: then another round.
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
    let _ = ended.set(reason);
    drop(running);
    for reply in opening {
        let _ = reply.send(Err(Error::SessionClosed));
    }
    if let Some(Some(reply)) = closing {
        let _ = reply.send(());
    }
}

/// Polls the work that is ready until none is.
fn run_ready(running: &mut FuturesUnordered<BoxFuture<'static, ()>>, cx: &mut Context<'_>) {
    while let Poll::Ready(Some(())) = running.poll_next_unpin(cx) {}
}

/// Opens the streams asked for and hands on the streams the peer opened;
/// ready when the connection has ended.
fn poll_connection(
    connection: &mut Connection,
    opening: &mut VecDeque<oneshot::Sender<Result<yamux::Stream, Error>>>,
    inbound: &mpsc::Sender<yamux::Stream>,
    cx: &mut Context<'_>,
) -> Poll<Result<(), String>> {
    while !opening.is_empty() {
        match connection.poll_new_outbound(cx) {
            Poll::Ready(Ok(stream)) => {
                if let Some(reply) = opening.pop_front() {
                    let _ = reply.send(Ok(stream));
                }
            }
            Poll::Ready(Err(error)) => return Poll::Ready(Err(reason(error))),
            Poll::Pending => break,
        }
    }
    loop {
        match connection.poll_next_inbound(cx) {
            Poll::Ready(Some(Ok(stream))) => {
                // yamux caps live inbound streams at `max_streams`, the
                // queue's size; should it still be full, dropping the
                // stream resets it.
                if inbound.try_send(stream).is_err() {
                    tracing::debug!("inbound queue full: inbound stream reset");
                }
            }
            Poll::Ready(Some(Err(error))) => return Poll::Ready(Err(reason(error))),
            Poll::Ready(None) => return Poll::Ready(Ok(())),
            Poll::Pending => return Poll::Pending,
        }
    }
}

/// Names why the connection failed: the suite's failure of a record, the
/// keepalive timeout, a yamux protocol error, or the carrier's I/O error.
fn reason(error: yamux::ConnectionError) -> String {
    match error {
        yamux::ConnectionError::Io(error)
        | yamux::ConnectionError::Decode(yamux::FrameDecodeError::Io(error)) => io_reason(&error),
        yamux::ConnectionError::Closed => "closed".to_owned(),
        other => format!("mux_protocol_error: {other}"),
    }
}

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

/// One stream of a session: a tokio byte stream with the kind its hello named.
///
/// Shutting down the write side sends FIN; reading continues until the peer's
/// FIN. Dropping an open stream resets it.
pub struct Stream {
    inner: Compat<yamux::Stream>,
    kind: String,
    _permit: Option<OwnedSemaphorePermit>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("id", &self.inner.get_ref().id())
            .field("kind", &self.kind)
            .finish()
    }
}

impl Stream {
    pub(crate) fn new(inner: yamux::Stream, permit: Option<OwnedSemaphorePermit>) -> Stream {
        Stream {
            inner: inner.compat(),
            kind: String::new(),
            _permit: permit,
        }
    }

    pub(crate) fn set_kind(&mut self, kind: String) {
        self.kind = kind;
    }

    /// What the stream carries, from its StreamHello.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The yamux stream id (odd when the client opened it).
    pub fn id(&self) -> u32 {
        self.inner.get_ref().id().val()
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
