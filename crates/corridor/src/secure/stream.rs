//! [`SecureStream`]: any suite's records as a tokio byte stream.
//!
//! Writes are gathered into one record until it is full or the writer
//! flushes, then sealed in place and handed to the carrier, whose own buffer is
//! bounded: a slow peer makes `poll_write` return `Pending` rather than grow
//! memory. Reads open one record at a time in place. Ping records are skipped
//! and rekey records switch keys inside the opener. A failed record is fatal:
//! every later read and write returns the same error.
//!
//! Keepalive: when nothing has been sent for `keepalive_interval`, an empty
//! ping record goes out (flowersec v1 peers skip them), and when nothing has
//! arrived for `read_idle_timeout` the stream fails with `keepalive_timeout`.
//! The mux task polls reads without pause, so both timers are checked there.

use crate::carrier::Records;
use crate::timer::SlidingDeadline;
use bytes::{Bytes, BytesMut};
use corridor_core::suite::{FEATURE_REKEY, RecordKind, RecordProtector};
use futures_util::{Sink, Stream};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The plaintext room a new record starts with, whatever its first write.
const SMALL_RECORD_BYTES: usize = 1024;

/// Tuning of a secure stream.
#[derive(Clone, Copy, Debug)]
pub struct SecureOptions {
    /// Plaintext bytes per record at most (flowersec writes 64 KiB and reads up to 1 MiB).
    pub record_plaintext_bytes: usize,
    /// Fail the stream with `keepalive_timeout` when nothing arrives for this
    /// long. The peer's keepalives keep a live session above it.
    pub read_idle_timeout: Option<Duration>,
    /// Send a ping record when nothing has been sent for this long.
    pub keepalive_interval: Option<Duration>,
    /// Switch to a fresh key after sending this many bytes, when the peer
    /// advertised rekey support. TLS 1.3 allows AES-GCM about 2^38 bytes per
    /// key (RFC 8446, 5.5); the default stays far below.
    pub rekey_after_bytes: Option<u64>,
    /// Switch to a fresh key after sending this many records, when the peer
    /// advertised rekey support: the bound for many small records, well
    /// under TLS 1.3's 2^24.5 full records per AES-GCM key.
    pub rekey_after_records: Option<u64>,
}

impl Default for SecureOptions {
    fn default() -> Self {
        SecureOptions {
            // A whole 256 KiB yamux frame per record (plus its 12-byte header).
            record_plaintext_bytes: 256 * 1024 + 12,
            read_idle_timeout: None,
            keepalive_interval: None,
            rekey_after_bytes: Some(64 << 30),
            rekey_after_records: Some(1 << 24),
        }
    }
}

/// What a secure stream has sent and received so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SecureStats {
    /// Application records sent.
    pub records_sent: u64,
    /// Application records received.
    pub records_received: u64,
    /// Plaintext bytes in application records sent.
    pub bytes_sent: u64,
    /// Plaintext bytes in application records received.
    pub bytes_received: u64,
    /// Keepalive records sent.
    pub pings_sent: u64,
    /// Keepalive records received.
    pub pings_received: u64,
    /// Key changes this side made.
    pub rekeys_sent: u64,
    /// Key changes the peer made.
    pub rekeys_received: u64,
}

/// The counters behind [`SecureStats`], shared with the session.
#[derive(Debug, Default)]
pub(crate) struct Counters([AtomicU64; 8]);

/// Which counter.
#[derive(Clone, Copy)]
enum Count {
    RecordsSent,
    RecordsReceived,
    BytesSent,
    BytesReceived,
    PingsSent,
    PingsReceived,
    RekeysSent,
    RekeysReceived,
}

impl Counters {
    fn add(&self, which: Count, n: u64) {
        self.0[which as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// A snapshot.
    pub(crate) fn stats(&self) -> SecureStats {
        let get = |which: Count| self.0[which as usize].load(Ordering::Relaxed);
        SecureStats {
            records_sent: get(Count::RecordsSent),
            records_received: get(Count::RecordsReceived),
            bytes_sent: get(Count::BytesSent),
            bytes_received: get(Count::BytesReceived),
            pings_sent: get(Count::PingsSent),
            pings_received: get(Count::PingsReceived),
            rekeys_sent: get(Count::RekeysSent),
            rekeys_received: get(Count::RekeysReceived),
        }
    }

    fn sent(&self, kind: RecordKind, plaintext: usize) {
        match kind {
            RecordKind::App => {
                self.add(Count::RecordsSent, 1);
                self.add(Count::BytesSent, plaintext as u64);
            }
            RecordKind::Ping => self.add(Count::PingsSent, 1),
            RecordKind::Rekey => self.add(Count::RekeysSent, 1),
        }
    }

    fn received(&self, kind: RecordKind, plaintext: usize) {
        match kind {
            RecordKind::App => {
                self.add(Count::RecordsReceived, 1);
                self.add(Count::BytesReceived, plaintext as u64);
            }
            RecordKind::Ping => self.add(Count::PingsReceived, 1),
            RecordKind::Rekey => self.add(Count::RekeysReceived, 1),
        }
    }
}

/// An established secure channel as a byte stream.
pub struct SecureStream {
    io: Records,
    records: Box<dyn RecordProtector>,
    /// Bytes before and after the plaintext in a record.
    header_len: usize,
    tag_len: usize,
    /// The record being filled: `header_len` bytes of room, then plaintext;
    /// empty and unallocated between records, so an idle connection holds
    /// no record buffer, and sized by what is written, so a small message
    /// does not allocate a whole record's worth.
    outgoing: Vec<u8>,
    record_plaintext: usize,
    /// The last record opened, and the unread plaintext range inside it.
    incoming: BytesMut,
    unread: std::ops::Range<usize>,
    read_eof: bool,
    failed: Option<(io::ErrorKind, String)>,
    idle: Option<SlidingDeadline>,
    keepalive: Option<SlidingDeadline>,
    /// A keepalive ping was handed to the carrier and still needs a flush.
    keepalive_unflushed: bool,
    /// Set by [`RekeyHandle::request`]: a rekey record goes before the next record.
    rekey_requested: Arc<AtomicBool>,
    rekey_after: Option<(u64, u64)>,
    sent_since_rekey: u64,
    records_since_rekey: u64,
    counters: Arc<Counters>,
}

/// Asks a [`SecureStream`] owned by another task to change its sending key.
#[derive(Clone, Debug)]
pub struct RekeyHandle(Arc<AtomicBool>);

impl RekeyHandle {
    /// A rekey record goes out before the next record this side sends.
    pub fn request(&self) {
        self.0.store(true, Ordering::Release);
    }
}

impl std::fmt::Debug for SecureStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureStream")
            .field("records", &self.records)
            .field("buffered", &self.buffered())
            .finish_non_exhaustive()
    }
}

impl SecureStream {
    /// Wraps a carrier whose handshake established `records`; `features`
    /// are the bits both sides advertised.
    pub fn new(
        io: Records,
        records: Box<dyn RecordProtector>,
        features: u32,
        options: SecureOptions,
    ) -> SecureStream {
        let record_plaintext = options
            .record_plaintext_bytes
            .clamp(1, records.max_plaintext().max(1));
        let (header_len, tag_len) = (records.header_len(), records.tag_len());
        let rekey_after = (features & FEATURE_REKEY != 0).then(|| {
            (
                options.rekey_after_bytes.unwrap_or(u64::MAX),
                options.rekey_after_records.unwrap_or(u64::MAX),
            )
        });
        SecureStream {
            io,
            records,
            header_len,
            tag_len,
            outgoing: Vec::new(),
            record_plaintext,
            incoming: BytesMut::new(),
            unread: 0..0,
            read_eof: false,
            failed: None,
            idle: options.read_idle_timeout.map(SlidingDeadline::new),
            keepalive: options.keepalive_interval.map(SlidingDeadline::new),
            keepalive_unflushed: false,
            rekey_requested: Arc::new(AtomicBool::new(false)),
            rekey_after,
            sent_since_rekey: 0,
            records_since_rekey: 0,
            counters: Arc::default(),
        }
    }

    /// What has crossed so far.
    pub fn stats(&self) -> SecureStats {
        self.counters.stats()
    }

    pub(crate) fn counters(&self) -> Arc<Counters> {
        self.counters.clone()
    }

    fn fail(
        &mut self,
        kind: io::ErrorKind,
        error: impl std::error::Error + Send + Sync + 'static,
    ) -> io::Error {
        self.failed = Some((kind, error.to_string()));
        io::Error::new(kind, error)
    }

    fn check_failed(&self) -> io::Result<()> {
        match &self.failed {
            Some((kind, message)) => Err(io::Error::new(*kind, message.clone())),
            None => Ok(()),
        }
    }

    fn buffered(&self) -> usize {
        self.outgoing.len().saturating_sub(self.header_len)
    }

    /// A handle other tasks use to ask for a rekey.
    pub fn rekey_handle(&self) -> RekeyHandle {
        RekeyHandle(self.rekey_requested.clone())
    }

    /// Seals the buffered plaintext as one record and hands it to the carrier,
    /// after a rekey record if one is due.
    fn poll_send_record(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let due = self.rekey_after.is_some_and(|(bytes, records)| {
            self.sent_since_rekey >= bytes || self.records_since_rekey >= records
        });
        if due || self.rekey_requested.load(Ordering::Acquire) {
            ready!(self.poll_send_control(cx, RecordKind::Rekey))?;
            self.rekey_requested.store(false, Ordering::Release);
            self.sent_since_rekey = 0;
            self.records_since_rekey = 0;
        }
        ready!(Pin::new(&mut self.io).poll_ready(cx))?;
        let mut record = std::mem::take(&mut self.outgoing);
        self.sent_since_rekey += (record.len() - self.header_len) as u64;
        self.records_since_rekey += 1;
        record.resize(record.len() + self.tag_len, 0);
        self.seal_and_send(RecordKind::App, record)
    }

    /// Sends an empty ping or rekey record.
    fn poll_send_control(
        &mut self,
        cx: &mut Context<'_>,
        kind: RecordKind,
    ) -> Poll<io::Result<()>> {
        ready!(Pin::new(&mut self.io).poll_ready(cx))?;
        self.seal_and_send(kind, vec![0u8; self.header_len + self.tag_len])
    }

    fn seal_and_send(&mut self, kind: RecordKind, mut record: Vec<u8>) -> Poll<io::Result<()>> {
        let plaintext = record.len() - self.header_len - self.tag_len;
        if let Err(error) = self.records.seal(kind, &mut record) {
            return Poll::Ready(Err(self.fail(io::ErrorKind::InvalidData, error)));
        }
        self.counters.sent(kind, plaintext);
        Pin::new(&mut self.io).start_send(Bytes::from(record))?;
        if let Some(keepalive) = &mut self.keepalive {
            keepalive.touch();
        }
        Poll::Ready(Ok(()))
    }

    /// Sends a ping record if nothing was sent for the keepalive interval.
    /// Called from the read side, which the mux task polls whenever the
    /// connection is woken (the timer wakes it too).
    fn poll_keepalive(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let due = match &mut self.keepalive {
            Some(keepalive) => keepalive.poll_expired(cx),
            None => false,
        };
        if due {
            if self.buffered() > 0 {
                // Buffered plaintext is about to be sent anyway: that is the activity.
                if let Some(keepalive) = &mut self.keepalive {
                    keepalive.touch();
                }
                self.arm_keepalive(cx);
            } else if let Poll::Ready(ready) = self.poll_send_control(cx, RecordKind::Ping) {
                ready?;
                self.keepalive_unflushed = true;
                self.arm_keepalive(cx);
            }
            // Else the carrier wakes this side when it has room, and the
            // ping is still due then.
        }
        if self.keepalive_unflushed {
            if let Poll::Ready(flushed) = Pin::new(&mut self.io).poll_flush(cx) {
                flushed?;
                self.keepalive_unflushed = false;
            }
        }
        Ok(())
    }

    /// Sets the keepalive timer for the next interval. Done at once: the
    /// session driver polls this side again only when something wakes it.
    fn arm_keepalive(&mut self, cx: &mut Context<'_>) {
        if let Some(keepalive) = &mut self.keepalive {
            let _ = keepalive.poll_expired(cx);
        }
    }

    fn poll_idle(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if let Some(idle) = &mut self.idle {
            if idle.poll_expired(cx) {
                let after = idle.period();
                return Err(self.fail(
                    io::ErrorKind::TimedOut,
                    io::Error::other(format!("keepalive_timeout: nothing received for {after:?}")),
                ));
            }
        }
        Ok(())
    }

    fn reset_idle(&mut self) {
        if let Some(idle) = &mut self.idle {
            idle.touch();
        }
    }
}

impl AsyncRead for SecureStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if !this.unread.is_empty() {
                let take = this.unread.len().min(buf.remaining());
                let start = this.unread.start;
                buf.put_slice(&this.incoming[start..start + take]);
                this.unread.start += take;
                return Poll::Ready(Ok(()));
            }
            if this.read_eof {
                return Poll::Ready(Ok(()));
            }
            this.check_failed()?;
            let next = match Pin::new(&mut this.io).poll_next(cx) {
                Poll::Pending => {
                    // Every byte of the last record is read: an idle
                    // connection keeps no record buffer.
                    this.incoming = BytesMut::new();
                    this.poll_idle(cx)?;
                    this.poll_keepalive(cx)?;
                    return Poll::Pending;
                }
                Poll::Ready(next) => next,
            };
            let bytes = match next {
                None => {
                    this.read_eof = true;
                    return Poll::Ready(Ok(()));
                }
                Some(Err(error)) => {
                    this.failed = Some((error.kind(), error.to_string()));
                    return Poll::Ready(Err(error));
                }
                Some(Ok(bytes)) => bytes,
            };
            this.reset_idle();
            // ring opens in place: take the carrier's buffer when no one else
            // holds it, else copy the record once.
            match bytes.try_into_mut() {
                Ok(owned) => this.incoming = owned,
                Err(shared) => {
                    this.incoming.clear();
                    this.incoming.extend_from_slice(&shared);
                }
            }
            match this.records.open(&mut this.incoming) {
                Ok((kind, plaintext)) => {
                    this.counters.received(kind, plaintext.len());
                    if kind == RecordKind::App {
                        this.unread = plaintext;
                    }
                }
                Err(error) => {
                    return Poll::Ready(Err(this.fail(io::ErrorKind::InvalidData, error)));
                }
            }
        }
    }
}

impl AsyncWrite for SecureStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        this.check_failed()?;
        if this.buffered() >= this.record_plaintext {
            ready!(this.poll_send_record(cx))?;
        }
        let take = buf.len().min(this.record_plaintext - this.buffered());
        if this.outgoing.is_empty() {
            // A small first write (a window update, a ping) still gets room
            // for the small frames written after it before the flush.
            this.outgoing
                .reserve_exact(this.header_len + take.max(SMALL_RECORD_BYTES) + this.tag_len);
            this.outgoing.resize(this.header_len, 0);
        } else {
            // Room for the tag too, so sealing never reallocates.
            this.outgoing.reserve(take + this.tag_len);
        }
        this.outgoing.extend_from_slice(&buf[..take]);
        Poll::Ready(Ok(take))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        this.check_failed()?;
        if this.buffered() > 0 {
            ready!(this.poll_send_record(cx))?;
        }
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.io).poll_close(cx)
    }
}
