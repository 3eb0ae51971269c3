//! One side of an RPC stream: calls out, handlers in, one writer task.

use super::{Failure, Router, RpcError};
use crate::mux::Stream;
use corridor_core::rpc::{CODE_OVERLOADED, Envelope, Kind, MAX_ID};
use futures_util::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};
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
    /// Notification handlers running or waiting; beyond this notifications are dropped.
    pub max_queued_notifications: usize,
    /// Our own calls waiting for an answer; beyond this a call fails at once.
    pub max_calls_in_flight: usize,
    /// How long a call waits for its answer.
    pub call_timeout: Duration,
    /// Largest frame accepted.
    pub max_frame_bytes: usize,
}

impl Default for RpcOptions {
    fn default() -> Self {
        RpcOptions {
            max_concurrent_requests: 32,
            max_queued_requests: 128,
            max_queued_notifications: 128,
            max_calls_in_flight: 1024,
            call_timeout: Duration::from_secs(30),
            max_frame_bytes: corridor_core::rpc::DEFAULT_MAX_FRAME_BYTES,
        }
    }
}

/// Frames queued for the writer task; its bound is the stream's backpressure.
const WRITE_QUEUE: usize = 64;

struct Shared {
    router: Router,
    options: RpcOptions,
    writer: OnceLock<mpsc::Sender<Vec<u8>>>,
    bound: Notify,
    closed: Mutex<Option<String>>,
    stop: CancellationToken,
    pending: Mutex<HashMap<u64, oneshot::Sender<Envelope>>>,
    next_id: AtomicU64,
    calls: Arc<Semaphore>,
}

/// A session's RPC: call and notify the peer, serve its calls. Cheap to clone.
#[derive(Clone)]
pub struct Rpc {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Rpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rpc")
            .field("bound", &self.shared.writer.get().is_some())
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

impl Rpc {
    /// An RPC side serving `router`, not yet bound to a stream.
    pub(crate) fn new(router: Router, options: RpcOptions) -> Rpc {
        Rpc {
            shared: Arc::new(Shared {
                router,
                options,
                writer: OnceLock::new(),
                bound: Notify::new(),
                closed: Mutex::new(None),
                stop: CancellationToken::new(),
                pending: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                calls: Arc::new(Semaphore::new(options.max_calls_in_flight.max(1))),
            }),
        }
    }

    /// The handlers this side serves; register more at any time.
    pub fn router(&self) -> &Router {
        &self.shared.router
    }

    /// Why the RPC stream closed, once it has.
    pub fn closed_reason(&self) -> Option<String> {
        lock(&self.shared.closed).clone()
    }

    /// Takes `stream` as the RPC stream; false if one is bound already.
    pub(crate) fn bind(&self, stream: Stream) -> bool {
        let (reader, writer) = tokio::io::split(stream);
        let (frames, queue) = mpsc::channel(WRITE_QUEUE);
        if self.shared.writer.set(frames.clone()).is_err() {
            return false;
        }
        self.shared.bound.notify_waiters();
        tokio::spawn(write_frames(writer, queue, self.shared.stop.clone()));
        tokio::spawn(read_frames(reader, self.shared.clone(), frames));
        true
    }

    /// Ends the RPC stream; waiting calls fail with `reason`.
    pub(crate) fn close(&self, reason: &str) {
        close(&self.shared, reason);
    }

    async fn writer(&self, deadline: Instant) -> Result<mpsc::Sender<Vec<u8>>, RpcError> {
        loop {
            let bound = self.shared.bound.notified();
            if let Some(reason) = self.closed_reason() {
                return Err(RpcError::Closed(reason));
            }
            if let Some(writer) = self.shared.writer.get() {
                return Ok(writer.clone());
            }
            tokio::time::timeout_at(deadline, bound)
                .await
                .map_err(|_| RpcError::Timeout)?;
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

    /// Calls `type_id` with `request`, waiting at most `timeout` for the answer.
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
        let payload = serde_json::to_value(request)?;
        let _slot = self
            .shared
            .calls
            .clone()
            .try_acquire_owned()
            .map_err(|_| RpcError::Overloaded)?;
        let deadline = Instant::now() + timeout;
        let writer = self.writer(deadline).await?;
        let request_id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        if request_id > MAX_ID {
            return Err(RpcError::Closed("request ids exhausted".into()));
        }
        let (answer, answered) = oneshot::channel();
        lock(&self.shared.pending).insert(request_id, answer);
        let _pending = PendingGuard {
            shared: &self.shared,
            request_id,
        };
        let frame = Envelope::request(type_id, request_id, payload).encode_frame();
        tokio::time::timeout_at(deadline, writer.send(frame))
            .await
            .map_err(|_| RpcError::Timeout)?
            .map_err(|_| self.closed_error())?;
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
        Ok(serde_json::from_value(response.payload)?)
    }

    /// Sends a notification of `type_id`; waits only for room in the write queue.
    pub async fn notify<Msg: Serialize + ?Sized>(
        &self,
        type_id: u32,
        message: &Msg,
    ) -> Result<(), RpcError> {
        let payload = serde_json::to_value(message)?;
        let writer = self
            .writer(Instant::now() + self.shared.options.call_timeout)
            .await?;
        writer
            .send(Envelope::notification(type_id, payload).encode_frame())
            .await
            .map_err(|_| self.closed_error())
    }

    fn closed_error(&self) -> RpcError {
        RpcError::Closed(self.closed_reason().unwrap_or_else(|| "closed".into()))
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

fn close(shared: &Shared, reason: &str) {
    {
        let mut closed = lock(&shared.closed);
        if closed.is_none() {
            *closed = Some(reason.to_owned());
        }
    }
    shared.stop.cancel();
    shared.bound.notify_waiters();
    // Dropping the answer senders fails every waiting call.
    lock(&shared.pending).clear();
}

async fn write_frames(
    mut writer: tokio::io::WriteHalf<Stream>,
    mut queue: mpsc::Receiver<Vec<u8>>,
    stop: CancellationToken,
) {
    loop {
        let frame = tokio::select! {
            _ = stop.cancelled() => return,
            frame = queue.recv() => frame,
        };
        let Some(frame) = frame else { return };
        if writer.write_all(&frame).await.is_err() {
            return;
        }
        // Batch what is already queued into one flush.
        while let Ok(frame) = queue.try_recv() {
            if writer.write_all(&frame).await.is_err() {
                return;
            }
        }
        if writer.flush().await.is_err() {
            return;
        }
    }
}

async fn read_frames(
    reader: tokio::io::ReadHalf<Stream>,
    shared: Arc<Shared>,
    writer: mpsc::Sender<Vec<u8>>,
) {
    let options = shared.options;
    let codec = LengthDelimitedCodec::builder()
        .length_field_length(4)
        .max_frame_length(options.max_frame_bytes)
        .new_codec();
    let mut frames = FramedRead::new(reader, codec);
    let admission = Arc::new(Semaphore::new(
        options.max_concurrent_requests.max(1) + options.max_queued_requests,
    ));
    let handlers = Arc::new(Semaphore::new(options.max_concurrent_requests.max(1)));
    let notification_slots = Arc::new(Semaphore::new(options.max_queued_notifications.max(1)));
    let reason = loop {
        let frame = tokio::select! {
            _ = shared.stop.cancelled() => break "closed".to_owned(),
            frame = frames.next() => frame,
        };
        let bytes = match frame {
            None => break "peer_closed".to_owned(),
            Some(Err(error)) if error.kind() == std::io::ErrorKind::InvalidData => {
                break "rpc_frame_too_large".to_owned();
            }
            Some(Err(error)) => break format!("io: {error}"),
            Some(Ok(bytes)) => bytes,
        };
        let envelope = match Envelope::decode(&bytes) {
            Ok(envelope) => envelope,
            Err(error) => {
                tracing::debug!(%error, "closing RPC stream");
                break error.reason().to_owned();
            }
        };
        match envelope.kind() {
            Kind::Response => {
                let waiting = lock(&shared.pending).remove(&envelope.response_to);
                if let Some(answer) = waiting {
                    let _ = answer.send(envelope);
                }
            }
            Kind::Notification => {
                let Ok(slot) = notification_slots.clone().try_acquire_owned() else {
                    tracing::debug!(
                        type_id = envelope.type_id,
                        "notification queue full: dropped"
                    );
                    continue;
                };
                if let Some(handling) = shared
                    .router
                    .notification(envelope.type_id, envelope.payload)
                {
                    tokio::spawn(async move {
                        handling.await;
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
                    if writer.send(busy.encode_frame()).await.is_err() {
                        break "closed".to_owned();
                    }
                    continue;
                };
                let (router, handlers, writer) =
                    (shared.router.clone(), handlers.clone(), writer.clone());
                tokio::spawn(async move {
                    let Ok(_running) = handlers.acquire_owned().await else {
                        return;
                    };
                    let answer = match router.dispatch(type_id, envelope.payload).await {
                        Ok(payload) => Envelope::response(type_id, request_id, payload),
                        Err(Failure { code, message }) => {
                            Envelope::failure(type_id, request_id, code, message)
                        }
                    };
                    let _ = writer.send(answer.encode_frame()).await;
                    drop(admitted);
                });
            }
        }
    };
    tracing::debug!(%reason, "RPC stream ended");
    close(&shared, &reason);
}
