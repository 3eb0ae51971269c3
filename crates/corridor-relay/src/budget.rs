//! A read budget for the attach phase.
//!
//! tokio-tungstenite fixes a socket's message size limit when it wraps it, and
//! the relay needs two: 8 KiB for the attach message, 1 MiB for records after
//! it. Re-wrapping the socket would drop what tungstenite already buffered
//! (endpoints send their first handshake frame right behind the attach), so the
//! socket is wrapped once with the record limit and this adapter caps how many
//! bytes may be read from it until the attach is accepted. Needing more than
//! the budget to complete the first message means the attach is too large.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

/// The error a read past the budget fails with.
#[derive(Debug, thiserror::Error)]
#[error("attach read budget spent")]
pub(crate) struct BudgetSpent;

/// An I/O stream whose reads are capped until [`AttachBudget::lift`].
#[derive(Debug)]
pub struct AttachBudget<S> {
    inner: S,
    remaining: Option<usize>,
}

impl<S> AttachBudget<S> {
    /// Caps reads from `inner` at `budget` bytes in all.
    pub fn new(inner: S, budget: usize) -> Self {
        Self {
            inner,
            remaining: Some(budget),
        }
    }

    /// Removes the cap.
    pub fn lift(&mut self) {
        self.remaining = None;
    }
}

/// Whether a WebSocket error is the budget running out.
pub(crate) fn is_budget_spent(error: &tokio_tungstenite::tungstenite::Error) -> bool {
    matches!(error, tokio_tungstenite::tungstenite::Error::Io(e)
        if e.get_ref().is_some_and(|inner| inner.is::<BudgetSpent>()))
}

impl<S: AsyncRead + Unpin> AsyncRead for AttachBudget<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let Some(remaining) = self.remaining else {
            return Pin::new(&mut self.inner).poll_read(cx, buf);
        };
        if remaining == 0 {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, BudgetSpent)));
        }
        // Read through a window of at most `remaining` bytes. The window is
        // initialised first so no unsafe is needed; this runs only for the
        // few kilobytes of the attach phase.
        let allowed = remaining.min(buf.remaining());
        let window = buf.initialize_unfilled_to(allowed);
        let mut limited = ReadBuf::new(window);
        let result = Pin::new(&mut self.inner).poll_read(cx, &mut limited);
        let filled = limited.filled().len();
        if let Poll::Ready(Ok(())) = result {
            buf.advance(filled);
            self.remaining = Some(remaining - filled);
        }
        result
    }
}

/// Writes pass straight to the wrapped stream.
impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for AttachBudget<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
