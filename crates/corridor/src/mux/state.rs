//! What a session's streams share with its driver, under one lock: each
//! stream's received bytes, windows and halves, and the encoded frames
//! waiting for the carrier. A stream writes its frame straight into the
//! outgoing buffer and the driver hands received bytes straight to the
//! stream: no channel, task or allocation per frame between them. Nothing
//! here does I/O; the driver reads and writes the carrier.
//!
//! The rules, hashicorp's yamux spec as flowersec v1 speaks it:
//! - a stream is opened by a frame with SYN and accepted by one with ACK
//!   (both sent at once, as window updates of 0);
//! - each side may send at most its window, 256 KiB at the start, and gets
//!   credit back as the receiver reads; credit is given when half the window
//!   is read, so a peer's window never exceeds 256 KiB (flowersec refuses
//!   more);
//! - FIN ends one direction (the reader sees end of stream after every byte
//!   before it), RST both; a handle dropped before both FINs sends RST;
//! - frames for a stream that is gone (a late window update) are ignored.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use corridor_core::Role;
use corridor_core::yamux::{
    ACK, FIN, GO_AWAY_NORMAL, HEADER_LEN, Header, INITIAL_WINDOW, Kind, RST, SYN,
};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::task::{Context, Poll, Waker};
use tokio::io::ReadBuf;

/// An empty outgoing buffer larger than this is freed rather than kept.
const IDLE_OUTGOING_BYTES: usize = 4 * 1024;

/// Outgoing bytes beyond which writers wait for the driver to catch up.
pub(crate) const OUTGOING_LIMIT: usize = 1024 * 1024;

/// Why the peer broke the protocol: the session ends with
/// `mux_protocol_error: <this>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ProtocolError {
    #[error("frame for stream 0")]
    StreamZero,
    #[error("stream opened twice")]
    DuplicateStream,
    #[error("stream id of the wrong parity")]
    WrongParity,
    #[error("data beyond the receive window")]
    WindowExceeded,
    #[error("send window overflow")]
    WindowOverflow,
    #[error("data frame larger than any window")]
    FrameTooLarge,
    #[error("{0}")]
    Header(#[from] corridor_core::yamux::FrameError),
}

/// Takes the next whole frame off `buf`: its header and a data frame's body
/// (sharing `buf`'s memory); `None` until a whole frame is there, with room
/// reserved for it.
pub(crate) fn next_frame(buf: &mut BytesMut) -> Result<Option<(Header, Bytes)>, ProtocolError> {
    let Some(head) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let mut bytes = [0u8; HEADER_LEN];
    bytes.copy_from_slice(head);
    let header = Header::decode(&bytes)?;
    let body_len = match header.kind {
        Kind::Data => header.length as usize,
        _ => 0,
    };
    // No window is larger: a longer frame is broken, not slow.
    if body_len > INITIAL_WINDOW as usize {
        return Err(ProtocolError::FrameTooLarge);
    }
    if buf.len() < HEADER_LEN + body_len {
        buf.reserve(HEADER_LEN + body_len - buf.len());
        return Ok(None);
    }
    let mut frame = buf.split_to(HEADER_LEN + body_len);
    frame.advance(HEADER_LEN);
    Ok(Some((header, frame.freeze())))
}

/// Drives a state with `input` as the peer's bytes, as the driver would,
/// and the streams as a user might: the body of the `mux_frames` fuzz
/// target (`cargo fuzz` builds with `--cfg fuzzing`).
#[cfg(fuzzing)]
pub fn fuzz(input: &[u8]) {
    let Some((&first, input)) = input.split_first() else {
        return;
    };
    let role = if first & 1 == 0 {
        Role::Client
    } else {
        Role::Server
    };
    let mut state = State::new(role, 4, 1024);
    let mut buf = BytesMut::from(input);
    let cx = Context::from_waker(futures_util::task::noop_waker_ref());
    let mut live = Vec::new();
    for _ in 0..first % 4 {
        live.extend(state.open());
    }
    while let Ok(Some((header, body))) = next_frame(&mut buf) {
        if state.on_frame(header, body).is_err() {
            break;
        }
        live.extend(state.accepted.drain(..));
        for (n, &id) in live.iter().enumerate() {
            let mut room = [0u8; 300];
            let _ = state.poll_read(id, &cx, &mut ReadBuf::new(&mut room));
            let _ = state.poll_write(id, &cx, &room[..n * 100]);
            let _ = state.try_write_whole(id, &room[..n * 40]);
            if n == 2 {
                let _ = state.shutdown(id);
            }
        }
        if live.len() > 3 {
            state.release(live.remove(0));
        }
        let mut out = BytesMut::new();
        state.take_outgoing(&cx, &mut out);
        assert!(out.len() <= OUTGOING_LIMIT + 2 * 1024 + 64 * HEADER_LEN);
    }
    state.end(io::ErrorKind::ConnectionAborted);
}

/// One stream's side of the state.
struct Slot {
    /// Received, not yet read.
    received: VecDeque<Bytes>,
    /// Bytes the peer may still send before it is given credit.
    receive_window: u32,
    /// Bytes read since credit was last given.
    unacknowledged: u32,
    /// Bytes we may still send.
    send_window: u32,
    sent_fin: bool,
    received_fin: bool,
    reset: bool,
    /// The peer opened it (counted against the inbound limit).
    inbound: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

impl Slot {
    fn new(inbound: bool) -> Slot {
        Slot {
            received: VecDeque::new(),
            receive_window: INITIAL_WINDOW,
            unacknowledged: 0,
            send_window: INITIAL_WINDOW,
            sent_fin: false,
            received_fin: false,
            reset: false,
            inbound,
            reader: None,
            writer: None,
        }
    }

    fn wake_both(&mut self) {
        wake(&mut self.reader);
        wake(&mut self.writer);
    }
}

fn wake(waker: &mut Option<Waker>) {
    if let Some(waker) = waker.take() {
        waker.wake();
    }
}

fn register(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(waker) if waker.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

/// The shared state of one session's multiplexer.
pub(crate) struct State {
    role: Role,
    max_inbound: usize,
    max_frame: u32,
    streams: HashMap<u32, Slot>,
    next_id: u32,
    inbound_live: usize,
    /// Streams the peer opened, for the driver to hand to the session.
    pub(crate) accepted: VecDeque<u32>,
    /// Encoded frames waiting for the carrier.
    outgoing: BytesMut,
    /// The driver's waker, for new outgoing frames and accepted streams.
    driver: Option<Waker>,
    driver_woken: bool,
    /// Writers waiting for `outgoing` to drain below its limit.
    blocked: Vec<Waker>,
    go_away_sent: bool,
    go_away_received: bool,
    /// The opaque value of our next ping.
    next_ping: u32,
    /// The session has ended: how streams fail from now on.
    ended: Option<io::ErrorKind>,
}

impl State {
    /// The state of a session on `role`'s side: at most `max_inbound`
    /// streams the peer opened alive at once, data frames of at most
    /// `max_frame` bytes sent.
    pub(crate) fn new(role: Role, max_inbound: usize, max_frame: usize) -> State {
        State {
            role,
            max_inbound,
            max_frame: max_frame.clamp(1, INITIAL_WINDOW as usize) as u32,
            streams: HashMap::new(),
            next_id: match role {
                Role::Client => 1,
                Role::Server => 2,
            },
            inbound_live: 0,
            accepted: VecDeque::new(),
            outgoing: BytesMut::new(),
            driver: None,
            driver_woken: false,
            blocked: Vec::new(),
            go_away_sent: false,
            go_away_received: false,
            next_ping: 0,
            ended: None,
        }
    }

    fn push(&mut self, header: Header) {
        self.outgoing.put_slice(&header.encode());
        self.wake_driver();
    }

    fn wake_driver(&mut self) {
        if !self.driver_woken {
            self.driver_woken = true;
            if let Some(driver) = &self.driver {
                driver.wake_by_ref();
            }
        }
    }

    /// Opens a stream: its SYN is queued at once. `None` once the session
    /// ends, either side sent GoAway, or the ids are spent.
    pub(crate) fn open(&mut self) -> Option<u32> {
        if self.ended.is_some() || self.go_away_sent || self.go_away_received {
            return None;
        }
        let id = self.next_id;
        self.next_id = id.checked_add(2)?;
        self.streams.insert(id, Slot::new(false));
        self.push(Header::new(Kind::WindowUpdate, SYN, id, 0));
        Some(id)
    }

    /// Applies one frame from the peer; `body` is a data frame's payload.
    pub(crate) fn on_frame(&mut self, header: Header, body: Bytes) -> Result<(), ProtocolError> {
        match header.kind {
            Kind::Ping => {
                if header.has(SYN) {
                    self.push(Header::new(Kind::Ping, ACK, 0, header.length));
                }
                return Ok(());
            }
            Kind::GoAway => {
                self.go_away_received = true;
                return Ok(());
            }
            Kind::Data | Kind::WindowUpdate => {}
        }
        let id = header.stream_id;
        if id == 0 {
            return Err(ProtocolError::StreamZero);
        }
        if header.has(SYN) && !self.accept(id)? {
            return Ok(());
        }
        // A frame for a stream that is gone: a late window update, or data
        // the peer sent before it saw our RST.
        let Some(slot) = self.streams.get_mut(&id) else {
            return Ok(());
        };
        if header.kind == Kind::WindowUpdate {
            slot.send_window = slot
                .send_window
                .checked_add(header.length)
                .ok_or(ProtocolError::WindowOverflow)?;
            if header.length > 0 {
                wake(&mut slot.writer);
            }
        } else {
            if header.length > slot.receive_window {
                return Err(ProtocolError::WindowExceeded);
            }
            slot.receive_window -= header.length;
            if !body.is_empty() && !slot.reset && !slot.received_fin {
                slot.received.push_back(body);
                wake(&mut slot.reader);
            }
        }
        if header.has(FIN) && !slot.received_fin {
            slot.received_fin = true;
            wake(&mut slot.reader);
        }
        if header.has(RST) && !slot.reset {
            slot.reset = true;
            slot.wake_both();
        }
        Ok(())
    }

    /// A SYN for `id`: true if the stream is taken (ACK queued), false if
    /// it is refused (RST queued).
    fn accept(&mut self, id: u32) -> Result<bool, ProtocolError> {
        if self.streams.contains_key(&id) {
            return Err(ProtocolError::DuplicateStream);
        }
        // The client opens odd ids, the server even ones.
        let theirs_odd = self.role == Role::Server;
        if (id % 2 == 1) != theirs_odd {
            return Err(ProtocolError::WrongParity);
        }
        if self.go_away_sent || self.inbound_live >= self.max_inbound {
            self.push(Header::new(Kind::WindowUpdate, ACK | RST, id, 0));
            return Ok(false);
        }
        self.inbound_live += 1;
        self.streams.insert(id, Slot::new(true));
        self.push(Header::new(Kind::WindowUpdate, ACK, id, 0));
        self.accepted.push_back(id);
        Ok(true)
    }

    /// Reads what stream `id` has received into `buf`; end of stream after
    /// the peer's FIN and every byte before it.
    pub(crate) fn poll_read(
        &mut self,
        id: u32,
        cx: &Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let ended = self.ended;
        let Some(slot) = self.streams.get_mut(&id) else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        if slot.received.is_empty() {
            if slot.reset {
                return Poll::Ready(Err(reset()));
            }
            if slot.received_fin {
                return Poll::Ready(Ok(()));
            }
            if let Some(kind) = ended {
                return Poll::Ready(Err(session_ended(kind)));
            }
            register(&mut slot.reader, cx);
            return Poll::Pending;
        }
        let mut read = 0;
        while buf.remaining() > 0 {
            let Some(front) = slot.received.front_mut() else {
                break;
            };
            let take = front.len().min(buf.remaining());
            buf.put_slice(&front.split_to(take));
            if front.is_empty() {
                slot.received.pop_front();
            }
            read += take;
        }
        slot.unacknowledged += read as u32;
        // Credit once half the window is read: one update per 128 KiB, and
        // the peer's window never above 256 KiB.
        if slot.unacknowledged >= INITIAL_WINDOW / 2 && !slot.received_fin && !slot.reset {
            let credit = std::mem::take(&mut slot.unacknowledged);
            slot.receive_window += credit;
            if ended.is_none() {
                self.push(Header::new(Kind::WindowUpdate, 0, id, credit));
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Queues as much of `data` as the window and frame size allow.
    pub(crate) fn poll_write(
        &mut self,
        id: u32,
        cx: &Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(kind) = self.ended {
            return Poll::Ready(Err(session_ended(kind)));
        }
        let blocked = self.outgoing.len() >= OUTGOING_LIMIT;
        let max_frame = self.max_frame;
        let Some(slot) = self.streams.get_mut(&id) else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        if slot.reset {
            return Poll::Ready(Err(reset()));
        }
        if slot.sent_fin {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "stream write after shutdown",
            )));
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if slot.send_window == 0 {
            register(&mut slot.writer, cx);
            return Poll::Pending;
        }
        if blocked {
            if !self.blocked.iter().any(|w| w.will_wake(cx.waker())) {
                self.blocked.push(cx.waker().clone());
            }
            return Poll::Pending;
        }
        let n = data
            .len()
            .min(slot.send_window as usize)
            .min(max_frame as usize);
        slot.send_window -= n as u32;
        self.outgoing.reserve(HEADER_LEN + n);
        self.outgoing
            .put_slice(&Header::new(Kind::Data, 0, id, n as u32).encode());
        self.outgoing.put_slice(&data[..n]);
        self.wake_driver();
        Poll::Ready(Ok(n))
    }

    /// Queues `data` as one frame on stream `id` if the window, the frame
    /// size and the outgoing limit take it whole now; false otherwise (and
    /// nothing is queued).
    pub(crate) fn try_write_whole(&mut self, id: u32, data: &[u8]) -> bool {
        if self.ended.is_some()
            || data.is_empty()
            || data.len() > self.max_frame as usize
            || self.outgoing.len() >= OUTGOING_LIMIT
        {
            return false;
        }
        let Some(slot) = self.streams.get_mut(&id) else {
            return false;
        };
        if slot.reset || slot.sent_fin || (slot.send_window as usize) < data.len() {
            return false;
        }
        slot.send_window -= data.len() as u32;
        self.outgoing.reserve(HEADER_LEN + data.len());
        self.outgoing
            .put_slice(&Header::new(Kind::Data, 0, id, data.len() as u32).encode());
        self.outgoing.put_slice(data);
        self.wake_driver();
        true
    }

    /// Ends stream `id`'s sending half (FIN).
    pub(crate) fn shutdown(&mut self, id: u32) -> io::Result<()> {
        if let Some(kind) = self.ended {
            return Err(session_ended(kind));
        }
        let Some(slot) = self.streams.get_mut(&id) else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        if slot.reset {
            return Err(reset());
        }
        if !slot.sent_fin {
            slot.sent_fin = true;
            self.push(Header::new(Kind::WindowUpdate, FIN, id, 0));
        }
        Ok(())
    }

    /// Forgets stream `id` (its handle is dropped): RST unless both halves
    /// ended.
    pub(crate) fn release(&mut self, id: u32) {
        let Some(slot) = self.streams.remove(&id) else {
            return;
        };
        if slot.inbound {
            self.inbound_live -= 1;
        }
        let finished = slot.reset || (slot.sent_fin && slot.received_fin);
        if !finished && self.ended.is_none() {
            self.push(Header::new(Kind::WindowUpdate, RST, id, 0));
        }
    }

    /// Queues a ping; the answer is traffic like any other.
    pub(crate) fn ping(&mut self) {
        if self.ended.is_none() {
            self.next_ping = self.next_ping.wrapping_add(1);
            self.push(Header::new(Kind::Ping, SYN, 0, self.next_ping));
        }
    }

    /// Queues GoAway: no stream opens from here on, either way.
    pub(crate) fn go_away(&mut self) {
        if !self.go_away_sent && self.ended.is_none() {
            self.go_away_sent = true;
            self.push(Header::new(Kind::GoAway, 0, 0, GO_AWAY_NORMAL));
        }
    }

    /// The driver's turn: registers its waker and moves the outgoing frames
    /// into `into` (empty), waking writers that waited for room.
    pub(crate) fn take_outgoing(&mut self, cx: &Context<'_>, into: &mut BytesMut) {
        register(&mut self.driver, cx);
        self.driver_woken = false;
        if self.outgoing.is_empty() {
            // Idle: no buffer is kept for the next burst.
            if self.outgoing.capacity() > IDLE_OUTGOING_BYTES {
                self.outgoing = BytesMut::new();
            }
            return;
        }
        std::mem::swap(&mut self.outgoing, into);
        for writer in self.blocked.drain(..) {
            writer.wake();
        }
    }

    /// Bytes of frames waiting to be taken.
    pub(crate) fn outgoing_len(&self) -> usize {
        self.outgoing.len()
    }

    /// Ends the session: every stream's pending and later reads and writes
    /// fail with `kind` (reads after the bytes already received).
    pub(crate) fn end(&mut self, kind: io::ErrorKind) {
        if self.ended.is_some() {
            return;
        }
        self.ended = Some(kind);
        for slot in self.streams.values_mut() {
            slot.wake_both();
        }
        for writer in self.blocked.drain(..) {
            writer.wake();
        }
        self.outgoing = BytesMut::new();
    }
}

fn reset() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "stream reset by the peer")
}

fn session_ended(kind: io::ErrorKind) -> io::Error {
    io::Error::new(kind, "session ended")
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::task::noop_waker_ref;

    fn cx() -> Context<'static> {
        Context::from_waker(noop_waker_ref())
    }

    /// The frames queued so far, as headers and bodies.
    fn sent(state: &mut State) -> Vec<(Header, Vec<u8>)> {
        let mut out = BytesMut::new();
        state.take_outgoing(&cx(), &mut out);
        let mut frames = Vec::new();
        while !out.is_empty() {
            let header = Header::decode(&out[..HEADER_LEN].try_into().unwrap()).unwrap();
            let body = match header.kind {
                Kind::Data => out[HEADER_LEN..HEADER_LEN + header.length as usize].to_vec(),
                _ => Vec::new(),
            };
            let _ = out.split_to(HEADER_LEN + body.len());
            frames.push((header, body));
        }
        frames
    }

    /// What a read of `room` bytes gives: bytes, an error kind, or pending.
    fn read(state: &mut State, id: u32, room: usize) -> Option<Result<Vec<u8>, io::ErrorKind>> {
        let mut bytes = vec![0u8; room];
        let mut buf = ReadBuf::new(&mut bytes);
        match state.poll_read(id, &cx(), &mut buf) {
            Poll::Ready(Ok(())) => Some(Ok(buf.filled().to_vec())),
            Poll::Ready(Err(error)) => Some(Err(error.kind())),
            Poll::Pending => None,
        }
    }

    fn data(id: u32, flags: u16, body: &[u8]) -> (Header, Bytes) {
        (
            Header::new(Kind::Data, flags, id, body.len() as u32),
            Bytes::copy_from_slice(body),
        )
    }

    #[test]
    fn open_sends_syn_and_accept_answers_ack() {
        let mut client = State::new(Role::Client, 8, 1 << 18);
        let mut server = State::new(Role::Server, 8, 1 << 18);
        assert_eq!(client.open(), Some(1));
        assert_eq!(client.open(), Some(3));
        for (header, _) in sent(&mut client) {
            assert!(header.has(SYN));
            server.on_frame(header, Bytes::new()).unwrap();
        }
        assert_eq!(server.accepted, [1, 3]);
        let acks = sent(&mut server);
        assert!(acks.iter().all(|(h, _)| h.has(ACK) && !h.has(RST)));
        assert_eq!(
            server.on_frame(Header::new(Kind::WindowUpdate, SYN, 1, 0), Bytes::new()),
            Err(ProtocolError::DuplicateStream)
        );
        assert_eq!(
            server.on_frame(Header::new(Kind::WindowUpdate, SYN, 4, 0), Bytes::new()),
            Err(ProtocolError::WrongParity)
        );
    }

    #[test]
    fn streams_beyond_the_inbound_limit_are_reset() {
        let mut server = State::new(Role::Server, 1, 1 << 18);
        server
            .on_frame(Header::new(Kind::WindowUpdate, SYN, 1, 0), Bytes::new())
            .unwrap();
        server
            .on_frame(Header::new(Kind::WindowUpdate, SYN, 3, 0), Bytes::new())
            .unwrap();
        assert_eq!(server.accepted, [1]);
        let frames = sent(&mut server);
        assert!(frames[1].0.has(RST) && frames[1].0.stream_id == 3);
        server.release(1);
        server
            .on_frame(Header::new(Kind::WindowUpdate, SYN, 5, 0), Bytes::new())
            .unwrap();
        assert_eq!(server.accepted, [1, 5], "a released stream frees its place");
    }

    #[test]
    fn fin_ends_the_stream_after_every_byte_before_it() {
        let mut server = State::new(Role::Server, 8, 1 << 18);
        let (h, b) = data(1, SYN, b"hello ");
        server.on_frame(h, b).unwrap();
        assert_eq!(read(&mut server, 1, 3), Some(Ok(b"hel".to_vec())));
        let (h, b) = data(1, FIN, b"world");
        server.on_frame(h, b).unwrap();
        assert_eq!(read(&mut server, 1, 64), Some(Ok(b"lo world".to_vec())));
        assert_eq!(
            read(&mut server, 1, 64),
            Some(Ok(Vec::new())),
            "end of stream"
        );
    }

    #[test]
    fn a_reset_stream_fails_reads_and_writes() {
        let mut server = State::new(Role::Server, 8, 1 << 18);
        server
            .on_frame(Header::new(Kind::WindowUpdate, SYN, 1, 0), Bytes::new())
            .unwrap();
        assert_eq!(read(&mut server, 1, 8), None);
        server
            .on_frame(Header::new(Kind::WindowUpdate, RST, 1, 0), Bytes::new())
            .unwrap();
        assert_eq!(
            read(&mut server, 1, 8),
            Some(Err(io::ErrorKind::ConnectionReset))
        );
        assert!(matches!(
            server.poll_write(1, &cx(), b"x"),
            Poll::Ready(Err(_))
        ));
    }

    #[test]
    fn data_beyond_the_window_is_a_protocol_error_and_credit_comes_at_half() {
        let mut server = State::new(Role::Server, 8, 1 << 18);
        let half = vec![7u8; INITIAL_WINDOW as usize / 2];
        let (h, b) = data(1, SYN, &half);
        server.on_frame(h, b).unwrap();
        let (h, b) = data(1, 0, &half);
        server.on_frame(h, b).unwrap();
        let (h, b) = data(1, 0, b"x");
        assert_eq!(server.on_frame(h, b), Err(ProtocolError::WindowExceeded));
        let _ = sent(&mut server);
        assert_eq!(
            read(&mut server, 1, half.len() - 1).map(|r| r.map(|v| v.len())),
            Some(Ok(half.len() - 1))
        );
        assert!(
            sent(&mut server).is_empty(),
            "no credit before half the window is read"
        );
        assert_eq!(
            read(&mut server, 1, 1).map(|r| r.map(|v| v.len())),
            Some(Ok(1))
        );
        let credit = sent(&mut server);
        assert_eq!(credit.len(), 1);
        assert_eq!(
            (credit[0].0.kind, credit[0].0.length),
            (Kind::WindowUpdate, INITIAL_WINDOW / 2)
        );
    }

    #[test]
    fn writes_stop_at_the_send_window_and_resume_on_credit() {
        let mut client = State::new(Role::Client, 8, 100_000);
        let id = client.open().unwrap();
        let big = vec![1u8; INITIAL_WINDOW as usize + 10];
        let mut written = 0;
        while let Poll::Ready(Ok(n)) = client.poll_write(id, &cx(), &big[written..]) {
            assert!(n <= 100_000, "frames are at most max_frame");
            written += n;
        }
        assert_eq!(written, INITIAL_WINDOW as usize);
        client
            .on_frame(Header::new(Kind::WindowUpdate, ACK, id, 10), Bytes::new())
            .unwrap();
        assert!(matches!(
            client.poll_write(id, &cx(), &big[written..]),
            Poll::Ready(Ok(10))
        ));
    }

    #[test]
    fn a_dropped_handle_resets_an_open_stream_and_late_frames_are_ignored() {
        let mut client = State::new(Role::Client, 8, 1 << 18);
        let id = client.open().unwrap();
        let _ = sent(&mut client);
        client.release(id);
        let frames = sent(&mut client);
        assert!(frames[0].0.has(RST));
        client
            .on_frame(Header::new(Kind::WindowUpdate, 0, id, 100), Bytes::new())
            .unwrap();
        let (h, b) = data(id, 0, b"late");
        client.on_frame(h, b).unwrap();
        assert!(sent(&mut client).is_empty(), "nothing answers a late frame");
    }

    #[test]
    fn pings_are_answered_and_go_away_stops_new_streams() {
        let mut client = State::new(Role::Client, 8, 1 << 18);
        client
            .on_frame(Header::new(Kind::Ping, SYN, 0, 42), Bytes::new())
            .unwrap();
        let frames = sent(&mut client);
        assert_eq!(frames[0].0, Header::new(Kind::Ping, ACK, 0, 42));
        client
            .on_frame(Header::new(Kind::GoAway, 0, 0, 0), Bytes::new())
            .unwrap();
        assert_eq!(client.open(), None);
    }
}
