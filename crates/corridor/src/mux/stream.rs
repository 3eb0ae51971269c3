//! [`Stream`]: one stream of a session, as a tokio byte stream over the
//! session's shared mux state.

use super::state::State;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;

/// The mux state, whatever a panicking holder left: every critical section
/// is a few field updates that leave it consistent.
pub(super) fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One stream of a session: a tokio byte stream with the kind its hello named.
///
/// Shutting down the write side sends FIN; reading continues until the peer's
/// FIN. Dropping a stream before both sides sent FIN resets it.
pub struct Stream {
    state: Arc<Mutex<State>>,
    id: u32,
    kind: String,
    _permit: Option<OwnedSemaphorePermit>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stream")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .finish()
    }
}

impl Stream {
    pub(super) fn new(
        state: Arc<Mutex<State>>,
        id: u32,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Stream {
        Stream {
            state,
            id,
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
        self.id
    }

    /// The stream as two handles, one to read and one to write, for two
    /// users such as the RPC reader and writer. Unlike `tokio::io::split`
    /// they take no lock of their own: the mux state's lock orders them
    /// already. The stream is released when both are dropped.
    pub(crate) fn into_halves(self) -> (Half, Half) {
        let stream = Arc::new(self);
        (Half(stream.clone()), Half(stream))
    }
}

/// One of [`Stream::into_halves`]' two handles; either reads and writes,
/// and a clone is one more handle.
#[derive(Clone)]
pub(crate) struct Half(Arc<Stream>);

impl Half {
    /// Writes `frame` as one yamux frame if the stream takes it whole now,
    /// without waiting; false if not (nothing is written).
    pub(crate) fn try_write_whole(&self, frame: &[u8]) -> bool {
        lock(&self.0.state).try_write_whole(self.0.id, frame)
    }
}

impl AsyncRead for Half {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        lock(&self.0.state).poll_read(self.0.id, cx, buf)
    }
}

impl AsyncWrite for Half {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        lock(&self.0.state).poll_write(self.0.id, cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(lock(&self.0.state).shutdown(self.0.id))
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        lock(&self.state).poll_read(self.id, cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        lock(&self.state).poll_write(self.id, cx, buf)
    }

    /// Ready at once: a written frame is already the driver's to send.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(lock(&self.state).shutdown(self.id))
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        lock(&self.state).release(self.id);
    }
}
