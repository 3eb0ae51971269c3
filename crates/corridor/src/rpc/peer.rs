//! One side of an RPC stream: calls out, handlers in, one reader and one
//! writer, both on the session's driver task.
//!
//! What goes out waits in a [`FrameQueue`] bounded in bytes. Frames may be
//! queued before the stream is bound (the client opens it, the server
//! receives it); the writer starts when it is. The reader never waits on
//! the writer: a 429 that finds no room is dropped (the caller's own
//! deadline answers it). A handler runs first on the reader's task: one that
//! is done at once (most are) is answered there, with no task between the
//! request and its answer; one that waits continues as a task of its own.
//! Handler tasks are the session's: they are cancelled when the RPC stream
//! or the session ends.

use super::queue::{Class, FrameQueue, Queued, Refused};
use super::{Failure, RpcError};
use crate::mux::{Half, Runner, Stream};
use crate::peer::Peer;
use bytes::Bytes;
use corridor_core::rpc::{
    CODE_INTERNAL, CODE_OVERLOADED, Envelope, Kind, MAX_ID, RawEnvelope, WireError,
    encode_request_frame,
};
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;

/// Limits of one RPC stream.
#[derive(Clone, Copy, Debug)]
pub struct RpcOptions {
    /// Handlers running at once (flowersec's default 32).
    pub max_concurrent_requests: usize,
    /// Admitted requests waiting for a handler slot; beyond this the answer is 429.
    pub max_queued_requests: usize,
    /// Notification handlers running or waiting; beyond this notifications
    /// are dropped, or with `notification_backpressure` the stream stops
    /// reading until one finishes.
    pub max_queued_notifications: usize,
    /// Wait for a notification handler's place instead of dropping: the
    /// sender is slowed down (its writes wait) rather than losing messages.
    /// For sessions that carry messages, not calls: answers to our own
    /// calls wait behind the notifications too.
    pub notification_backpressure: bool,
    /// Our own calls waiting for an answer; beyond this a call fails at once.
    pub max_calls_in_flight: usize,
    /// How long a call waits for its answer, and a notification or response
    /// for room in the outbound queue.
    pub call_timeout: Duration,
    /// Largest frame accepted, and sent: a larger outgoing message is an
    /// error to its sender ([`RpcError::TooLarge`]), not the peer's problem.
    pub max_frame_bytes: usize,
    /// Bytes of calls and notifications waiting to be written to the peer.
    /// A peer that reads slower than it is sent to fills it: then `notify`
    /// waits (at most `call_timeout`) and `try_notify` fails at once. Answers
    /// to the peer's calls have a budget of the same size of their own.
    pub max_queued_bytes: usize,
}

impl Default for RpcOptions {
    fn default() -> Self {
        RpcOptions {
            max_concurrent_requests: 32,
            max_queued_requests: 128,
            max_queued_notifications: 128,
            notification_backpressure: false,
            max_calls_in_flight: 1024,
            call_timeout: Duration::from_secs(30),
            max_frame_bytes: corridor_core::rpc::DEFAULT_MAX_FRAME_BYTES,
            max_queued_bytes: 1024 * 1024,
        }
    }
}

/// A notification encoded once, to be sent to any number of sessions.
///
/// ```
/// use corridor::rpc::Notification;
/// let news = Notification::new(7, &serde_json::json!({"price": 42})).unwrap();
/// // for session in &subscribers { let _ = session.rpc().try_send(&news); }
/// # let _ = news;
/// ```
#[derive(Clone, Debug)]
pub struct Notification {
    frame: Bytes,
}

impl Notification {
    /// Encodes `message` as a notification of `type_id`.
    pub fn new<Msg: Serialize + ?Sized>(
        type_id: u32,
        message: &Msg,
    ) -> Result<Notification, RpcError> {
        let payload = serde_json::to_value(message)?;
        Ok(Notification {
            frame: Envelope::notification(type_id, payload)
                .encode_frame()
                .into(),
        })
    }

    /// Bytes on the wire, length prefix included.
    pub fn len(&self) -> usize {
        self.frame.len()
    }

    /// Whether the frame is empty (never: it has a length prefix).
    pub fn is_empty(&self) -> bool {
        self.frame.is_empty()
    }
}

/// What serves the peer's calls and notifications: a
/// [`Router`](super::Router), or anything that dispatches by `type_id`.
pub trait Serve: Send + Sync {
    /// The answer to a call.
    fn dispatch(&self, call: Call, payload: Value) -> BoxFuture<'static, Result<Value, Failure>>;

    /// The handling of a notification, if anything handles its `type_id`.
    fn notification(&self, call: Call, payload: Value) -> Option<BoxFuture<'static, ()>>;
}

/// What a handler knows about the message it is handling.
#[derive(Clone, Debug)]
pub struct Call {
    rpc: Rpc,
    type_id: u32,
}

impl Call {
    pub(crate) fn new(rpc: Rpc, type_id: u32) -> Call {
        Call { rpc, type_id }
    }

    /// Who sent it: the identity the handshake proved and the connection's facts.
    pub fn peer(&self) -> &Peer {
        self.rpc.peer()
    }

    /// The sender's session RPC: keep it to call or notify that peer later.
    pub fn session(&self) -> &Rpc {
        &self.rpc
    }

    /// The message's `type_id`.
    pub fn type_id(&self) -> u32 {
        self.type_id
    }
}

struct Shared {
    router: Arc<dyn Serve>,
    options: RpcOptions,
    peer: Arc<Peer>,
    queue: FrameQueue,
    /// The writer's end of the queue, until the stream is bound.
    unbound: Mutex<Option<mpsc::UnboundedReceiver<Queued>>>,
    closed: Mutex<Option<String>>,
    stop: CancellationToken,
    pending: Mutex<HashMap<u64, oneshot::Sender<Answer>>>,
    next_id: AtomicU64,
    /// Our calls waiting for an answer.
    calls_in_flight: AtomicUsize,
    /// Set with `stop`: a call checks it without the token's lock.
    stopped: AtomicBool,
}

/// A session's RPC: call and notify the peer, serve its calls. Cheap to
/// clone; a clone kept past the session fails its calls with `Closed`.
#[derive(Clone)]
pub struct Rpc {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Rpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rpc")
            .field("peer", &self.shared.peer.identity)
            .field("queued_bytes", &self.shared.queue.queued_bytes())
            .field("closed", &*lock(&self.shared.closed))
            .finish()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section is a single map or option update.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs `work` as a task of the session: it ends when `stop` is cancelled.
fn spawn_owned(stop: &CancellationToken, work: impl Future<Output = ()> + Send + 'static) {
    tokio::spawn(owned(stop, work));
}

/// `work`, ended early when `stop` is cancelled.
fn owned(
    stop: &CancellationToken,
    work: impl Future<Output = ()> + Send + 'static,
) -> impl Future<Output = ()> + Send + 'static {
    let stop = stop.clone();
    async move {
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = work => {}
        }
    }
}

impl Rpc {
    /// An RPC side serving `router` for `peer`, not yet bound to a stream.
    pub(crate) fn new(router: Arc<dyn Serve>, options: RpcOptions, peer: Arc<Peer>) -> Rpc {
        let (queue, unbound) = FrameQueue::new(options.max_queued_bytes);
        Rpc {
            shared: Arc::new(Shared {
                router,
                options,
                peer,
                queue,
                unbound: Mutex::new(Some(unbound)),
                closed: Mutex::new(None),
                stop: CancellationToken::new(),
                pending: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                calls_in_flight: AtomicUsize::new(0),
                stopped: AtomicBool::new(false),
            }),
        }
    }

    /// Who is on the other end.
    pub fn peer(&self) -> &Peer {
        &self.shared.peer
    }

    /// Why the RPC stream closed, once it has.
    pub fn closed_reason(&self) -> Option<String> {
        lock(&self.shared.closed).clone()
    }

    /// Whether the RPC stream (or the session) has ended.
    pub fn is_closed(&self) -> bool {
        self.shared.stopped.load(Ordering::Acquire)
    }

    /// Waits until the RPC stream (or the session) ends.
    pub async fn closed(&self) {
        self.shared.stop.cancelled().await
    }

    /// Bytes waiting to be written to the peer.
    pub fn queued_bytes(&self) -> usize {
        self.shared.queue.queued_bytes()
    }

    /// Takes `stream` as the RPC stream, its reader and writer run by
    /// `runner`; false if one is bound already.
    pub(crate) fn bind(&self, stream: Stream, runner: &Runner) -> bool {
        let Some(queue) = lock(&self.shared.unbound).take() else {
            return false;
        };
        let (reader, writer) = stream.into_halves();
        self.shared.queue.bind_direct(writer.clone());
        runner.run(owned(&self.shared.stop, write_frames(writer, queue)));
        let closer = CloseOnDrop(self.clone());
        runner.run(async move {
            read_frames(reader, &closer.0).await;
        });
        true
    }

    /// Ends the RPC stream; waiting calls fail with `reason`.
    pub(crate) fn close(&self, reason: &str) {
        {
            let mut closed = lock(&self.shared.closed);
            if closed.is_none() {
                *closed = Some(reason.to_owned());
            }
        }
        self.shared.stopped.store(true, Ordering::Release);
        self.shared.stop.cancel();
        self.shared.queue.close();
        // Dropping the answer senders fails every waiting call.
        lock(&self.shared.pending).clear();
    }

    fn closed_error(&self) -> RpcError {
        RpcError::Closed(self.closed_reason().unwrap_or_else(|| "closed".into()))
    }

    /// A frame to send, if within the frame limit.
    fn checked(&self, frame: Vec<u8>) -> Result<Bytes, RpcError> {
        let frame = Bytes::from(frame);
        self.check_size(&frame)?;
        Ok(frame)
    }

    /// A frame (length prefix included) within the frame limit, or `TooLarge`.
    fn check_size(&self, frame: &Bytes) -> Result<(), RpcError> {
        let body = frame.len() - 4;
        let limit = self.shared.options.max_frame_bytes;
        if body > limit {
            return Err(RpcError::TooLarge { bytes: body, limit });
        }
        Ok(())
    }

    fn refused(&self, refused: Refused) -> RpcError {
        match refused {
            Refused::Full => RpcError::Full,
            Refused::Closed => self.closed_error(),
        }
    }

    /// Calls `type_id` with `request` and decodes the answer, within the
    /// default call timeout.
    pub async fn call<Req, Resp>(&self, type_id: u32, request: &Req) -> Result<Resp, RpcError>
    where
        Req: Serialize + ?Sized,
        Resp: DeserializeOwned,
    {
        self.call_with_timeout(type_id, request, self.shared.options.call_timeout)
            .await
    }

    /// Calls `type_id` with `request`, waiting at most `timeout` for room and
    /// for the answer.
    pub async fn call_with_timeout<Req, Resp>(
        &self,
        type_id: u32,
        request: &Req,
        timeout: Duration,
    ) -> Result<Resp, RpcError>
    where
        Req: Serialize + ?Sized,
        Resp: DeserializeOwned,
    {
        let _slot = CallSlot::take(&self.shared)?;
        if self.is_closed() {
            return Err(self.closed_error());
        }
        let deadline = Instant::now() + timeout;
        let request_id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        if request_id > MAX_ID {
            return Err(RpcError::Closed("request ids exhausted".into()));
        }
        let frame = self.checked(encode_request_frame(type_id, request_id, request)?)?;
        let (answer, answered) = oneshot::channel();
        lock(&self.shared.pending).insert(request_id, answer);
        let _pending = PendingGuard {
            shared: &self.shared,
            request_id,
        };
        self.shared
            .queue
            .push(Class::Outgoing, frame, deadline)
            .await
            .map_err(|refused| match refused {
                // No room before the deadline: the call timed out.
                Refused::Full => RpcError::Timeout,
                Refused::Closed => self.closed_error(),
            })?;
        let response = tokio::time::timeout_at(deadline, answered)
            .await
            .map_err(|_| RpcError::Timeout)?
            .map_err(|_| self.closed_error())?;
        if let Some(error) = response.error {
            return Err(RpcError::Remote {
                code: error.code,
                message: error.message.unwrap_or_default(),
            });
        }
        Ok(serde_json::from_slice(&response.payload)?)
    }

    /// Sends a notification of `type_id`, waiting for room in the outbound
    /// queue at most the call timeout.
    pub async fn notify<Msg: Serialize + ?Sized>(
        &self,
        type_id: u32,
        message: &Msg,
    ) -> Result<(), RpcError> {
        self.send(&Notification::new(type_id, message)?).await
    }

    /// Sends a notification of `type_id` if the outbound queue has room now;
    /// [`RpcError::Full`] at once otherwise.
    pub fn try_notify<Msg: Serialize + ?Sized>(
        &self,
        type_id: u32,
        message: &Msg,
    ) -> Result<(), RpcError> {
        self.try_send(&Notification::new(type_id, message)?)
    }

    /// Sends an encoded notification, waiting for room at most the call timeout.
    pub async fn send(&self, notification: &Notification) -> Result<(), RpcError> {
        self.send_within(notification, self.shared.options.call_timeout)
            .await
    }

    /// Sends an encoded notification, waiting for room at most `timeout`
    /// ([`RpcError::Full`] after it).
    pub async fn send_within(
        &self,
        notification: &Notification,
        timeout: Duration,
    ) -> Result<(), RpcError> {
        let frame = self.checked_shared(notification)?;
        self.shared
            .queue
            .push(Class::Outgoing, frame, Instant::now() + timeout)
            .await
            .map_err(|refused| self.refused(refused))
    }

    /// Sends an encoded notification if there is room now: what a
    /// broadcaster calls for each subscriber, dropping (or disconnecting) the
    /// ones that answer [`RpcError::Full`].
    pub fn try_send(&self, notification: &Notification) -> Result<(), RpcError> {
        let frame = self.checked_shared(notification)?;
        self.shared
            .queue
            .try_push(Class::Outgoing, frame)
            .map_err(|refused| self.refused(refused))
    }

    /// The frame that answers request `request_id`: the handler's result,
    /// or a 500 when that is too large to send.
    fn answer_frame(&self, type_id: u32, request_id: u64, answer: Result<Value, Failure>) -> Bytes {
        let envelope = match answer {
            Ok(payload) => Envelope::response(type_id, request_id, payload),
            Err(Failure { code, message }) => Envelope::failure(type_id, request_id, code, message),
        };
        self.checked(envelope.encode_frame())
            .unwrap_or_else(|error| {
                Envelope::failure(type_id, request_id, CODE_INTERNAL, error.to_string())
                    .encode_frame()
                    .into()
            })
    }

    /// Queues the answer to request `request_id`, waiting for room at most
    /// the call timeout.
    async fn answer(&self, type_id: u32, request_id: u64, answer: Result<Value, Failure>) {
        let frame = self.answer_frame(type_id, request_id, answer);
        self.queue_answer(type_id, frame).await;
    }

    async fn queue_answer(&self, type_id: u32, frame: Bytes) {
        let deadline = Instant::now() + self.shared.options.call_timeout;
        if self
            .shared
            .queue
            .push(Class::Answer, frame, deadline)
            .await
            .is_err()
        {
            tracing::debug!(type_id, "no room for a response in time: dropped");
        }
    }

    fn checked_shared(&self, notification: &Notification) -> Result<Bytes, RpcError> {
        self.check_size(&notification.frame)?;
        if self.is_closed() {
            return Err(self.closed_error());
        }
        Ok(notification.frame.clone())
    }
}

/// Closes the RPC when the reader is dropped unfinished: the session ended
/// under it.
struct CloseOnDrop(Rpc);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close("session_closed");
    }
}

/// What a call's caller receives: the response's payload as JSON text, or
/// the peer's error.
struct Answer {
    payload: Bytes,
    error: Option<WireError>,
}

/// `part` of `frame` as a `Bytes` sharing its buffer: serde_json borrows a
/// raw payload from the frame it parsed, so it lies within it (a copy
/// otherwise).
fn slice_of(frame: &Bytes, part: &[u8]) -> Bytes {
    let start = (part.as_ptr() as usize).wrapping_sub(frame.as_ptr() as usize);
    match start.checked_add(part.len()) {
        Some(end) if end <= frame.len() => frame.slice(start..end),
        _ => Bytes::copy_from_slice(part),
    }
}

/// A place among the calls in flight, given back however the call ends.
struct CallSlot<'a>(&'a AtomicUsize);

impl<'a> CallSlot<'a> {
    fn take(shared: &'a Shared) -> Result<CallSlot<'a>, RpcError> {
        let limit = shared.options.max_calls_in_flight.max(1);
        let slot = CallSlot(&shared.calls_in_flight);
        if slot.0.fetch_add(1, Ordering::AcqRel) >= limit {
            return Err(RpcError::Overloaded);
        }
        Ok(slot)
    }
}

impl Drop for CallSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Removes a call's pending entry however the call ends.
struct PendingGuard<'a> {
    shared: &'a Shared,
    request_id: u64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        lock(&self.shared.pending).remove(&self.request_id);
    }
}

/// Frames gathered into one write at most: many small messages become one
/// yamux frame and one record, instead of one of each per message.
const WRITE_BATCH_BYTES: usize = 64 * 1024;

async fn write_frames(mut writer: Half, mut queue: mpsc::UnboundedReceiver<Queued>) {
    // Frames keep their queue room until written.
    let mut batch: Vec<Queued> = Vec::new();
    let mut streaming = false;
    while let Some(first) = queue.recv().await {
        let mut bytes = first.frame.len();
        batch.push(first);
        // What is queued now goes in the same write. While messages stream
        // (the last write took several), one yield first lets a sender on
        // the other thread add its next: without it a steady stream of small
        // messages went out one record each. A lone call or answer does not
        // wait for that turn.
        let mut yielded = !streaming;
        while bytes < WRITE_BATCH_BYTES {
            match queue.try_recv() {
                Ok(queued) => {
                    bytes += queued.frame.len();
                    batch.push(queued);
                }
                Err(mpsc::error::TryRecvError::Empty) if !yielded => {
                    yielded = true;
                    tokio::task::yield_now().await;
                }
                Err(_) => break,
            }
        }
        streaming = batch.len() > 1;
        let written = match batch.as_slice() {
            [one] => writer.write_all(&one.frame).await,
            frames => {
                let mut joined = Vec::with_capacity(bytes);
                for queued in frames {
                    joined.extend_from_slice(&queued.frame);
                }
                writer.write_all(&joined).await
            }
        };
        if written.is_err() || writer.flush().await.is_err() {
            return;
        }
        batch.clear();
    }
}

/// `start()` and the future it gives, as one future that catches a panic in
/// either: handlers start on the session's driver task, and one handler's
/// bug must not end the session (a panicking call answers 500, as an HTTP
/// server's would, instead of leaving its caller to time out).
fn unwind_safe<T: 'static>(
    start: impl FnOnce() -> BoxFuture<'static, T> + Send + 'static,
) -> impl Future<Output = std::thread::Result<T>> + Unpin + Send + 'static {
    AssertUnwindSafe(futures_util::future::lazy(move |_| start()).flatten()).catch_unwind()
}

/// A call's handling: the router's answer, or 500 if the handler panicked.
fn answering(
    call: Call,
    payload: Value,
) -> impl Future<Output = Result<Value, Failure>> + Unpin + Send + 'static {
    let router = call.rpc.shared.router.clone();
    unwind_safe(move || router.dispatch(call, payload)).map(|answer| {
        answer.unwrap_or_else(|_| Err(Failure::new(CODE_INTERNAL, "handler panicked")))
    })
}

/// The RPC reader's initial buffer.
const READ_BUFFER_BYTES: usize = 1024;

async fn read_frames(reader: Half, rpc: &Rpc) {
    let shared = &rpc.shared;
    let options = shared.options;
    let codec = LengthDelimitedCodec::builder()
        .length_field_length(4)
        .max_frame_length(options.max_frame_bytes)
        .new_codec();
    // The codec reserves a whole frame once it has read the length, so the
    // buffer starts small: every idle session keeps it (tokio-util's 8 KiB
    // default was the largest allocation of an idle mesh connection).
    let mut frames = FramedRead::with_capacity(reader, codec, READ_BUFFER_BYTES);
    let admission = Arc::new(Semaphore::new(
        options.max_concurrent_requests.max(1) + options.max_queued_requests,
    ));
    let handlers = Arc::new(Semaphore::new(options.max_concurrent_requests.max(1)));
    let notification_slots = Arc::new(Semaphore::new(options.max_queued_notifications.max(1)));
    // One wait for the stop, kept across frames: a new one per frame took
    // the token's lock twice whenever the stream had nothing to read.
    let stopped = shared.stop.cancelled();
    tokio::pin!(stopped);
    let reason = loop {
        // Frames already received are read before a stop is honoured: what
        // the peer said just before closing (a goodbye) still reaches us.
        let frame = tokio::select! {
            biased;
            frame = frames.next() => frame,
            _ = &mut stopped => break "closed".to_owned(),
        };
        let bytes = match frame {
            None => break "peer_closed".to_owned(),
            Some(Err(error)) if error.kind() == std::io::ErrorKind::InvalidData => {
                break "rpc_frame_too_large".to_owned();
            }
            Some(Err(error)) => break format!("io: {error}"),
            Some(Ok(bytes)) => bytes.freeze(),
        };
        // A response's payload goes to its caller as it came, to be parsed
        // once into the caller's type; the rest is parsed for the handlers.
        let envelope = match RawEnvelope::decode(&bytes) {
            Ok(raw) if raw.kind() == Kind::Response => {
                let waiting = lock(&shared.pending).remove(&raw.response_to);
                if let Some(answer) = waiting {
                    let _ = answer.send(Answer {
                        payload: slice_of(&bytes, raw.payload.get().as_bytes()),
                        error: raw.error,
                    });
                }
                continue;
            }
            other => other.and_then(RawEnvelope::into_envelope),
        };
        let envelope = match envelope {
            Ok(envelope) => envelope,
            Err(error) => {
                tracing::debug!(%error, "closing RPC stream");
                break error.reason().to_owned();
            }
        };
        match envelope.kind() {
            // Delivered above.
            Kind::Response => {}
            Kind::Notification => {
                let slot = if options.notification_backpressure {
                    tokio::select! {
                        _ = shared.stop.cancelled() => break "closed".to_owned(),
                        slot = notification_slots.clone().acquire_owned() => slot.ok(),
                    }
                } else {
                    notification_slots.clone().try_acquire_owned().ok()
                };
                let Some(slot) = slot else {
                    tracing::debug!(
                        type_id = envelope.type_id,
                        "notification queue full: dropped"
                    );
                    continue;
                };
                let call = Call::new(rpc.clone(), envelope.type_id);
                let router = shared.router.clone();
                // A panicking handler loses its own message, nothing more.
                let mut handling = unwind_safe(move || {
                    router
                        .notification(call, envelope.payload)
                        .unwrap_or_else(|| Box::pin(std::future::ready(())))
                });
                if futures_util::poll!(&mut handling).is_pending() {
                    spawn_owned(&shared.stop, async move {
                        let _ = handling.await;
                        drop(slot);
                    });
                }
            }
            Kind::Request => {
                let (type_id, request_id) = (envelope.type_id, envelope.request_id);
                let Ok(admitted) = admission.clone().try_acquire_owned() else {
                    let busy = Envelope::failure(
                        type_id,
                        request_id,
                        CODE_OVERLOADED,
                        "server overloaded",
                    );
                    // Never wait on the writer here: without room the caller's
                    // own deadline answers it.
                    if shared
                        .queue
                        .try_push(Class::Answer, busy.encode_frame().into())
                        .is_err()
                    {
                        tracing::debug!(type_id, "no room for a 429: dropped");
                    }
                    continue;
                };
                let Ok(running) = handlers.clone().try_acquire_owned() else {
                    // Every handler slot is taken: wait for one in a task.
                    let (rpc, handlers) = (rpc.clone(), handlers.clone());
                    spawn_owned(&shared.stop, async move {
                        let Ok(_running) = handlers.acquire_owned().await else {
                            return;
                        };
                        let answer = answering(Call::new(rpc.clone(), type_id), envelope.payload);
                        rpc.answer(type_id, request_id, answer.await).await;
                        drop(admitted);
                    });
                    continue;
                };
                let mut answering = answering(Call::new(rpc.clone(), type_id), envelope.payload);
                match futures_util::poll!(&mut answering) {
                    Poll::Ready(answer) => {
                        drop(running);
                        let frame = rpc.answer_frame(type_id, request_id, answer);
                        if let Err(Refused::Full) =
                            shared.queue.try_push(Class::Answer, frame.clone())
                        {
                            // The answer budget is spent: wait for room in a
                            // task, never here (the reader must go on reading).
                            let rpc = rpc.clone();
                            spawn_owned(&shared.stop, async move {
                                rpc.queue_answer(type_id, frame).await;
                                drop(admitted);
                            });
                        }
                    }
                    Poll::Pending => {
                        let rpc = rpc.clone();
                        spawn_owned(&shared.stop, async move {
                            let answer = answering.await;
                            drop(running);
                            rpc.answer(type_id, request_id, answer).await;
                            drop(admitted);
                        });
                    }
                }
            }
        }
    };
    tracing::debug!(%reason, "RPC stream ended");
    rpc.close(&reason);
}
