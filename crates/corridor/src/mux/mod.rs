//! Streams over the secure channel: yamux framing (hashicorp's spec, which
//! flowersec v1 speaks), implemented here on state the streams share with
//! the session's one driver task.
//!
//! Why not the `yamux` crate, which corridor used first: its stream and
//! connection talk through a channel, with a task and an allocation per
//! frame, and its connection takes a lock and reads the clock on every
//! poll. Small request/response traffic paid for it: a bare echo over that
//! crate on a Unix socket reached 0.55 to 0.61 of the plain socket's calls
//! per second here (8 clients), and corridor's IPC sessions 0.40 to 0.46.
//! tokio-yamux was faster (0.74 to 0.86) but hands frames to each stream
//! through a queue of eight, and stops reading the connection when one
//! stream's queue is full: one stream nobody reads stalls its whole session.
//! Here a stream writes its frame into the session's outgoing buffer and
//! the driver puts received bytes straight into the stream's buffer
//! (`state.rs`), each stream bounded by its window.
//!
//! The driver (`driver.rs`) runs the work given to its `Runner` (the RPC
//! stream's reader and writer) on the same task, so a message read from the
//! carrier reaches its handler, and an answer reaches the carrier, without
//! waking another thread. Windows are fixed at 256 KiB per stream:
//! flowersec v1 refuses a window update that would take its send window
//! above that. (Growth between corridor peers was measured with the old
//! crate: with 256 KiB frames it gained nothing on one stream and cost a
//! third of the 8-stream throughput.) The mux answers the peer's pings and
//! sends its own every `keepalive_interval`; liveness is judged by the
//! secure channel's read idle timeout.

mod driver;
mod state;
mod stream;

#[cfg(fuzzing)]
pub use state::fuzz;

pub(crate) use stream::Half;
pub use stream::Stream;

use crate::error::Error;
use crate::secure::SecureStream;
use corridor_core::Role;
use driver::{Carrier, Inputs};
use futures_util::future::BoxFuture;
use state::State;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};

/// yamux's per-stream window, which flowersec v1 also assumes.
const STREAM_WINDOW: usize = corridor_core::yamux::INITIAL_WINDOW as usize;

/// Bounds of the multiplexer.
#[derive(Clone, Copy, Debug)]
pub struct MuxOptions {
    /// Streams the peer may have open towards us at once; more are reset.
    pub max_streams: usize,
    /// Streams we open at once (flowersec accepts 32 inbound).
    pub max_outbound_streams: usize,
    /// Inbound streams waiting for `accept_stream`.
    pub accept_backlog: usize,
    /// Largest yamux data frame we send (flowersec accepts up to 256 KiB,
    /// the window).
    pub frame_bytes: usize,
    /// How often a yamux ping goes out. A peer that sends nothing of its own
    /// (a flowersec client with its liveness off) is heard from in its
    /// answers, so the secure channel's read idle timeout can tell it alive.
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
    Close,
}

/// The handle other tasks use to open streams and close the session.
#[derive(Clone)]
pub(crate) struct Mux {
    state: Arc<Mutex<State>>,
    commands: mpsc::Sender<Command>,
    runner: Runner,
    outbound: Arc<Semaphore>,
    ended: Arc<std::sync::OnceLock<String>>,
}

impl std::fmt::Debug for Mux {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mux")
            .field("ended", &self.ended.get())
            .finish_non_exhaustive()
    }
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
    ) -> (Mux, mpsc::Receiver<Stream>) {
        let state = Arc::new(Mutex::new(State::new(
            role,
            options.max_streams,
            options.frame_bytes,
        )));
        let (commands, command_rx) = mpsc::channel(1);
        let (work, work_rx) = mpsc::unbounded_channel();
        // Every inbound stream is a live stream, so `max_streams` bounds
        // this queue already; the accept backlog is applied once, after the
        // stream's hello, where the session knows what the stream is for.
        // (Sized to the backlog, a burst of streams was reset here while the
        // backlog itself still had room.)
        let (inbound_tx, inbound_rx) = mpsc::channel(options.max_streams.max(1));
        let ended = Arc::new(std::sync::OnceLock::new());
        tokio::spawn(driver::drive(
            Carrier::new(io, state.clone(), inbound_tx),
            Inputs {
                commands: command_rx,
                work: work_rx,
            },
            options,
            ended.clone(),
        ));
        let mux = Mux {
            state,
            commands,
            runner: Runner { work },
            outbound: Arc::new(Semaphore::new(options.max_outbound_streams.max(1))),
            ended,
        };
        (mux, inbound_rx)
    }

    /// Opens a stream, waiting while the outbound limit is reached. Its SYN
    /// is queued at once; data written to it follows.
    pub(crate) async fn open(&self) -> Result<Stream, Error> {
        let permit = self
            .outbound
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::SessionClosed)?;
        let id = stream::lock(&self.state)
            .open()
            .ok_or(Error::SessionClosed)?;
        Ok(Stream::new(self.state.clone(), id, Some(permit)))
    }

    /// Closes the session: flushes what streams wrote, sends GoAway, closes the carrier.
    pub(crate) async fn close(&self) {
        // Full: a close is on its way already. Closed: the driver is gone.
        let _ = self.commands.try_send(Command::Close);
        // The end is the driver's queue closing, not a reply sent through
        // it: a message that lands in a tokio channel just as its receiver
        // drops stays there while any sender lives, and this handle is one.
        // A reply sender stuck there once held a mesh connection's close
        // (and its node's shutdown) forever.
        self.commands.closed().await
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
