//! Large socket reads while data flows, no buffer while idle, and a record
//! of where the WebSocket frames handed on end.
//!
//! tungstenite reads at most its `read_buffer_size` per call, and zero-fills
//! that much before every read, so the size is also what every connection
//! keeps touched. corridor keeps it small (idle connections dominate the
//! memory of relays and mesh nodes), which alone would cost one `recv` per
//! 4 KiB of a 256 KiB record. This adapter reads up to `chunk` bytes per `recv` into a
//! buffer of its own and hands them out in the small pieces asked for; the
//! buffer is freed as soon as the socket has nothing more, so an idle
//! connection holds none of it. Reads go straight into the caller's buffer
//! until one fills it completely, so a trickle (an attach message, a
//! keepalive) never allocates the large buffer at all.
//!
//! The buffers of all connections together stay within a [`ReadAheadBudget`]:
//! a connection that finds it spent reads in small pieces, correctly but
//! with more `recv`s, so many streaming connections cannot grow memory past it.
//!
//! Every byte handed on passes a [`FrameBoundary`], so the owner can tell
//! whether what tungstenite was given ends at a message boundary (the relay
//! rebuilds a quiet connection's WebSocket state then, freeing what a burst
//! grew).
//!
//! ```
//! use corridor::carrier::read_ahead::{ReadAhead, ReadAheadBudget};
//! # async fn run() -> std::io::Result<()> {
//! let (_far, near) = tokio::io::duplex(1024);
//! let budget = ReadAheadBudget::new(64 * 1024 * 1024);
//! let io = ReadAhead::new(near, 64 * 1024, budget);
//! # let _ = io; Ok(()) }
//! ```

use bytes::{Buf as _, BytesMut};
use corridor_core::ws_boundary::FrameBoundary;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The bytes of read-ahead buffers all connections may hold at once
/// (`--max-read-ahead-bytes`).
#[derive(Clone, Debug)]
pub struct ReadAheadBudget {
    in_use: Arc<AtomicUsize>,
    max: usize,
}

impl ReadAheadBudget {
    /// A budget of `max` bytes, shared by the connections it is given to.
    pub fn new(max: usize) -> Self {
        Self {
            in_use: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    /// The budget shared by every connection whose owner names none:
    /// 64 MiB for the whole process.
    pub fn process_default() -> Self {
        static SHARED: std::sync::OnceLock<ReadAheadBudget> = std::sync::OnceLock::new();
        SHARED
            .get_or_init(|| ReadAheadBudget::new(64 * 1024 * 1024))
            .clone()
    }

    fn try_take(&self, bytes: usize) -> bool {
        self.in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |in_use| {
                in_use.checked_add(bytes).filter(|&total| total <= self.max)
            })
            .is_ok()
    }

    fn give_back(&self, bytes: usize) {
        self.in_use.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// Bytes taken now.
    #[cfg(test)]
    fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Acquire)
    }
}

/// An I/O stream whose reads go through a transient read-ahead buffer.
#[derive(Debug)]
pub struct ReadAhead<S> {
    inner: S,
    buffered: BytesMut,
    chunk: usize,
    budget: ReadAheadBudget,
    /// Whether `chunk` bytes of the budget are this connection's.
    holds_budget: bool,
    /// The last direct read filled all it was given: data is flowing.
    streaming: bool,
    boundary: FrameBoundary,
}

impl<S> ReadAhead<S> {
    /// Reads up to `chunk` bytes per call on `inner`, while `budget` has room.
    pub fn new(inner: S, chunk: usize, budget: ReadAheadBudget) -> Self {
        Self {
            inner,
            buffered: BytesMut::new(),
            chunk,
            budget,
            holds_budget: false,
            streaming: false,
            boundary: FrameBoundary::default(),
        }
    }

    /// Whether this connection may use a read-ahead buffer now.
    fn hold_budget(&mut self) -> bool {
        if !self.holds_budget {
            self.holds_budget = self.budget.try_take(self.chunk);
        }
        self.holds_budget
    }

    /// Frees the read-ahead buffer and its share of the budget.
    fn release(&mut self) {
        self.buffered = BytesMut::new();
        if std::mem::take(&mut self.holds_budget) {
            self.budget.give_back(self.chunk);
        }
    }

    /// The wrapped stream.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Whether everything handed on so far ends at a message boundary: then
    /// a reader that has asked for more since holds no bytes of a frame.
    pub fn at_message_boundary(&self) -> bool {
        self.boundary.at_message_boundary()
    }

    /// Bytes allocated for read-ahead (0 while idle).
    #[cfg(test)]
    fn allocated(&self) -> usize {
        self.buffered.capacity()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadAhead<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.buffered.is_empty() {
            if !this.streaming || out.remaining() >= this.chunk || !this.hold_budget() {
                let wanted = out.remaining();
                let before = out.filled().len();
                let result = Pin::new(&mut this.inner).poll_read(cx, out);
                match result {
                    Poll::Ready(Ok(())) => {
                        let read = &out.filled()[before..];
                        this.boundary.consume(read);
                        this.streaming = read.len() == wanted && wanted > 0;
                    }
                    Poll::Pending => this.streaming = false,
                    Poll::Ready(Err(_)) => {}
                }
                return result;
            }
            this.buffered.reserve(this.chunk);
            match tokio_util::io::poll_read_buf(Pin::new(&mut this.inner), cx, &mut this.buffered) {
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(error)) => {
                    this.release();
                    return Poll::Ready(Err(error));
                }
                Poll::Pending => {
                    // Idle: give the memory back until data flows again.
                    this.release();
                    this.streaming = false;
                    return Poll::Pending;
                }
            }
            // End of stream leaves `buffered` empty and `out` unfilled.
        }
        let n = this.buffered.len().min(out.remaining());
        out.put_slice(&this.buffered[..n]);
        this.boundary.consume(&this.buffered[..n]);
        this.buffered.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<S> Drop for ReadAhead<S> {
    fn drop(&mut self) {
        self.release();
    }
}

/// Writes pass straight to the wrapped stream.
impl<S: AsyncWrite + Unpin> AsyncWrite for ReadAhead<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::{ReadAhead, ReadAheadBudget};
    use std::future::poll_fn;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _, ReadBuf};

    /// Counts the reads that reach the socket.
    struct Counting<S> {
        inner: S,
        reads: usize,
    }

    impl<S: AsyncRead + Unpin> AsyncRead for Counting<S> {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            out: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            self.reads += 1;
            Pin::new(&mut self.inner).poll_read(cx, out)
        }
    }

    /// A masked binary frame as a client sends it.
    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0x82, 0x80 | 127];
        bytes.extend_from_slice(&(payload.len() as u64).to_be_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        bytes.extend_from_slice(payload);
        bytes
    }

    async fn pending_now<R: AsyncRead + Unpin>(reader: &mut R) -> bool {
        poll_fn(|cx| {
            let mut space = [0u8; 16];
            let mut out = ReadBuf::new(&mut space);
            Poll::Ready(Pin::new(&mut *reader).poll_read(cx, &mut out).is_pending())
        })
        .await
    }

    #[tokio::test]
    async fn hands_out_small_pieces_in_order_and_frees_the_buffer_when_idle() {
        let (mut writer, reader) = tokio::io::duplex(1 << 20);
        let mut reader = ReadAhead::new(
            Counting {
                inner: reader,
                reads: 0,
            },
            64 * 1024,
            ReadAheadBudget::new(1 << 20),
        );
        let first: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut wire = frame(&first);
        wire.extend_from_slice(&frame(&[3u8; 50_000]));
        writer.write_all(&wire).await.expect("write");
        let mut got = vec![0u8; wire.len()];
        for piece in got.chunks_mut(4096) {
            reader.read_exact(piece).await.expect("read");
        }
        assert_eq!(got, wire);
        // 150 KB in pieces of 4 KiB: one direct read, then 64 KiB gulps.
        assert!(
            reader.get_mut().reads <= 5,
            "{} socket reads",
            reader.get_mut().reads
        );
        assert!(reader.at_message_boundary());
        // Nothing more to read: the next read waits, holding no buffer.
        assert!(pending_now(&mut reader).await);
        assert_eq!(reader.allocated(), 0);
        // End of stream still reads as end of stream.
        drop(writer);
        let mut rest = Vec::new();
        assert_eq!(reader.read_to_end(&mut rest).await.expect("eof"), 0);
    }

    #[tokio::test]
    async fn a_trickle_never_allocates_and_boundaries_follow_what_was_handed_on() {
        let (mut writer, reader) = tokio::io::duplex(1 << 20);
        let mut reader = ReadAhead::new(reader, 64 * 1024, ReadAheadBudget::new(1 << 20));
        for round in 0..10u8 {
            // Reads as tungstenite makes them: room for 4 KiB each time.
            let wire = frame(&[round; 100]);
            let (first, second) = wire.split_at(wire.len() / 2);
            let mut buf = [0u8; 4096];
            writer.write_all(first).await.expect("write");
            let n = reader.read(&mut buf).await.expect("read");
            assert_eq!(&buf[..n], first);
            assert!(!reader.at_message_boundary(), "half a frame handed on");
            writer.write_all(second).await.expect("write");
            let n = reader.read(&mut buf).await.expect("read");
            assert_eq!(&buf[..n], second);
            assert!(reader.at_message_boundary());
            assert_eq!(reader.allocated(), 0);
        }
    }

    #[tokio::test]
    async fn connections_share_the_budget_and_read_in_small_pieces_without_it() {
        let budget = ReadAheadBudget::new(64 * 1024);
        let wire = frame(&[5u8; 200_000]);
        let (mut first_writer, first) = tokio::io::duplex(1 << 20);
        let (mut second_writer, second) = tokio::io::duplex(1 << 20);
        let counting = |inner| Counting { inner, reads: 0 };
        let mut first = ReadAhead::new(counting(first), 64 * 1024, budget.clone());
        let mut second = ReadAhead::new(counting(second), 64 * 1024, budget.clone());
        first_writer.write_all(&wire).await.expect("write");
        second_writer.write_all(&wire).await.expect("write");
        let mut piece = [0u8; 4096];
        // The first streams and takes the whole budget.
        first.read_exact(&mut piece).await.expect("read");
        first.read_exact(&mut piece).await.expect("read");
        assert_eq!(budget.in_use(), 64 * 1024);
        // The second gets the same bytes, in 4 KiB socket reads.
        let mut got = vec![0u8; wire.len()];
        for piece in got.chunks_mut(4096) {
            second.read_exact(piece).await.expect("read");
        }
        assert_eq!(got, wire);
        assert!(
            second.get_mut().reads >= wire.len() / 4096,
            "read ahead without budget"
        );
        assert_eq!(second.allocated(), 0);
        // Once the first is idle its share comes back.
        let mut rest = vec![0u8; wire.len() - 2 * 4096];
        first.read_exact(&mut rest).await.expect("read");
        assert!(pending_now(&mut first).await);
        assert_eq!(budget.in_use(), 0);
        drop(second);
        assert_eq!(budget.in_use(), 0);
    }
}
