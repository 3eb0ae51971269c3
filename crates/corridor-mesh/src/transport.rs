//! The transport: one authenticated session per peer, messages in and out.
//!
//! Each connection is a corridor session over WebSocket with the `noise`
//! suite (XX, or IK when the peer's key is known): mutual authentication
//! and forward secrecy from the handshake, records encrypted and ordered by
//! the session, keepalive pings from the secure layer (a peer silent for
//! `ping_interval + pong_timeout` is dropped). Messages are RPC
//! notifications on the session's `rpc` stream, so their size cap, write
//! queue bound and handler concurrency are the session stack's; this module
//! adds what a mesh needs on top: one connection per peer (by a stated
//! rule), per-peer rate limits, de-duplication, role checks, disconnect
//! codes, and broadcast.

use crate::MeshError;
use crate::auth::{Access, Hello, MeshAuthorizer};
use crate::config::TransportConfig;
use crate::dedup::Deduplicator;
use crate::identity::{NodeIdentity, peer_id};
use crate::message::{Message, OrderTypes, Role};
use crate::request::Waiting;
use corridor::liveness::Liveness;
use corridor::rpc::{Call, Notification, Router};
use corridor::{Session, SessionOptions};
use corridor_core::identity::PublicKey;
use futures_util::future::BoxFuture;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// RPC notification type of a mesh message.
pub const MESSAGE: u32 = 100;
/// RPC notification type of a disconnect notice (`{code, reason}`).
pub const DISCONNECT: u32 = 101;
/// The channel name both sides put in the Noise prologue.
pub const CHANNEL_ID: &str = "corridor-mesh";

/// Disconnect codes, sent best-effort before a graceful close.
pub mod codes {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// The node or peer is going away.
    pub const GOING_AWAY: u16 = 1001;
    /// A protocol error (a message over the size cap, a broken stream).
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// No sign of life within ping interval + pong timeout.
    pub const TIMEOUT: u16 = 1003;
    /// The node is shutting down.
    pub const SHUTDOWN: u16 = 1004;
}

/// A connected peer, as its handshake proved it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PeerInfo {
    /// Its peer id (the fingerprint of its key).
    pub id: String,
    /// The name it gave.
    pub name: String,
    /// Its public key (base64url).
    pub public_key: String,
    /// Its role: the one the operator gave its key
    /// ([`Access::assign_role`]), else the one it claims.
    pub role: Role,
    /// The role it claims in its hello.
    pub claimed_role: Role,
    /// Its address, as the connection shows it.
    pub address: Option<String>,
    /// Whether this node dialled it.
    pub outbound: bool,
}

/// What happened to a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MeshEvent {
    /// A peer is connected.
    Connected(PeerInfo),
    /// A peer's connection ended: `code` and `reason` from the side that
    /// ended it (`by_peer` when the peer did and said why).
    Disconnected {
        /// The peer.
        peer: PeerInfo,
        /// A disconnect code (see [`codes`]).
        code: u16,
        /// Why.
        reason: String,
        /// Whether the peer sent the code.
        by_peer: bool,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Notice {
    code: u16,
    reason: String,
}

/// Where a connection's handlers find it once it is registered.
pub(crate) type ConnectionCell = Arc<OnceLock<Weak<PeerConnection>>>;

/// The application's handler of messages.
pub type MessageHandler = Arc<dyn Fn(PeerInfo, Message) -> BoxFuture<'static, ()> + Send + Sync>;

/// One live connection.
pub struct PeerConnection {
    /// The peer.
    pub peer: PeerInfo,
    session: Arc<Session>,
    limiter: DefaultDirectRateLimiter,
    /// The peer id of the node that dialled this connection.
    initiator: String,
    /// The code and reason this end closed with, or the peer announced.
    ended: Mutex<Option<(u16, String, bool)>>,
}

impl PeerConnection {
    fn end_with(&self, code: u16, reason: &str, by_peer: bool) {
        let mut ended = self.ended.lock().unwrap_or_else(|p| p.into_inner());
        ended.get_or_insert_with(|| (code, reason.to_owned(), by_peer));
    }
}

pub(crate) struct Inner {
    pub(crate) config: TransportConfig,
    pub(crate) identity: NodeIdentity,
    pub(crate) access: Arc<Access>,
    orders: OrderTypes,
    handler: OnceLock<MessageHandler>,
    connections: Mutex<HashMap<String, Arc<PeerConnection>>>,
    /// Connections established or mid-handshake, in and out.
    pub(crate) slots: AtomicUsize,
    dedup: Deduplicator,
    waiting: Waiting,
    counts: Mutex<BTreeMap<String, u64>>,
    pub(crate) metrics: crate::metrics::Metrics,
    events: broadcast::Sender<MeshEvent>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) tasks: TaskTracker,
    pub(crate) local_addr: OnceLock<SocketAddr>,
}

/// A place under `max_conns`, held from before the handshake to the end
/// of the connection.
pub(crate) struct Slot(Weak<Inner>);

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(inner) = self.0.upgrade() {
            inner.slots.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Inner {
    fn drop_message(&self, reason: &str) {
        self.count(format!("dropped_{reason}"));
        self.metrics.dropped(reason);
    }

    pub(crate) fn handshake_failed(&self, reason: &str) {
        self.count(format!("handshake_failed_{reason}"));
        self.metrics.handshake_failed(reason);
    }

    fn connections_changed(&self) {
        let count = self
            .connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len();
        self.metrics.set_connections(count);
    }

    pub(crate) fn count(&self, what: impl Into<String>) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        *counts.entry(what.into()).or_default() += 1;
    }

    /// A place for one more connection, or `None` at the cap.
    pub(crate) fn slot(self: &Arc<Self>) -> Option<Slot> {
        let max = self.config.max_conns;
        self.slots
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used < max).then_some(used + 1)
            })
            .ok()
            .map(|_| Slot(Arc::downgrade(self)))
    }

    pub(crate) fn hello(&self) -> Hello {
        Hello::new(&self.identity.name, self.identity.role)
    }

    pub(crate) fn authorizer(&self, responder: bool) -> Arc<MeshAuthorizer> {
        Arc::new(MeshAuthorizer {
            access: self.access.clone(),
            hello: self.hello(),
            responder,
        })
    }

    /// Session options for one connection: sizes, keepalive, handlers.
    /// `this` is filled with the connection once it is registered, so a
    /// disconnect notice acts on the connection it came on, not on a newer
    /// one to the same peer.
    pub(crate) fn session_options(self: &Arc<Self>, this: &ConnectionCell) -> SessionOptions {
        let config = &self.config;
        let mut options = SessionOptions {
            handshake_timeout: config.handshake_timeout,
            liveness: Liveness::AsConfigured,
            ..SessionOptions::default()
        };
        options.secure.keepalive_interval = Some(config.ping_interval);
        options.secure.read_idle_timeout = Some(config.ping_interval + config.pong_timeout);
        // The envelope around a message: its JSON fields and the RPC frame.
        options.rpc.max_frame_bytes = config.max_message_size + 4096;
        options.rpc.call_timeout = config.write_timeout;
        // A fast sender is slowed down, not silently thinned out: what is
        // dropped is dropped by the rate limit, and counted.
        options.rpc.notification_backpressure = true;
        options.ws.tls = config.tls_client.clone();
        options.ws.max_message_bytes = options
            .ws
            .max_message_bytes
            .max(config.max_message_size + 8192);
        let on_message = Arc::downgrade(self);
        let (this, this_message) = (this.clone(), this.clone());
        let router = Router::new()
            .on_notify(MESSAGE, move |call: Call, message: Message| {
                let inner = on_message.upgrade();
                // The connection the message came on; by the proven key
                // for one that arrives before registration is done.
                let connection = this_message.get().and_then(Weak::upgrade).or_else(|| {
                    let inner = inner.as_ref()?;
                    inner.connection(&caller_id(&call)?)
                });
                async move {
                    if let (Some(inner), Some(connection)) = (inner, connection) {
                        inner.receive(&connection, message).await;
                    }
                }
            })
            .on_notify(DISCONNECT, move |notice: Notice| {
                let connection = this.get().and_then(Weak::upgrade);
                async move {
                    if let Some(connection) = connection {
                        // Recorded before this side closes, so the end is
                        // reported with the peer's code.
                        connection.end_with(notice.code, &notice.reason, true);
                        connection.session.close().await;
                    }
                }
            });
        options.with_router(router)
    }

    fn connection(&self, id: &str) -> Option<Arc<PeerConnection>> {
        self.connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    async fn receive(&self, connection: &PeerConnection, mut message: Message) {
        let id = &connection.peer.id;
        if connection.limiter.check().is_err() {
            self.drop_message("rate_limited");
            tracing::debug!(peer = %id, "message over the peer's rate: dropped");
            return;
        }
        // The sender is who the handshake proved, whatever the message says.
        if !message.from.is_empty() && message.from != *id {
            self.drop_message("spoofed_from");
            return;
        }
        message.from = id.clone();
        if !self.dedup.first_time(&message.id) {
            self.drop_message("duplicate");
            return;
        }
        if !self.orders.may_send(connection.peer.role, &message.kind) {
            self.drop_message("unauthorized");
            tracing::warn!(peer = %connection.peer.id, kind = %message.kind, "order from a worker: dropped");
            return;
        }
        self.count("messages_in");
        self.metrics.message("in", &message.kind);
        let Some(message) = self.waiting.deliver(message) else {
            return;
        };
        if let Some(handler) = self.handler.get() {
            handler(connection.peer.clone(), message).await;
        }
    }

    /// Takes an authenticated session as the connection to its peer, by the
    /// one-connection rule, and watches it until it ends.
    pub(crate) fn register(
        self: &Arc<Self>,
        session: Session,
        outbound: bool,
        slot: Slot,
        this: &ConnectionCell,
    ) -> Result<PeerInfo, MeshError> {
        let session = Arc::new(session);
        let peer = session.peer();
        let key = *peer
            .identity
            .static_key()
            .ok_or_else(|| MeshError::Handshake("no static key".into()))?;
        let hello = Hello::decode(&peer.handshake_payload)
            .ok_or_else(|| MeshError::Handshake("no mesh hello".into()))?;
        if let Some(refusal) = crate::auth::version_refusal(&hello) {
            let closing = session.clone();
            tokio::spawn(async move { closing.close().await });
            return Err(MeshError::Handshake(refusal));
        }
        let id = peer_id(&key);
        let own = self.identity.peer_id();
        if id == own {
            let closing = session.clone();
            tokio::spawn(async move { closing.close().await });
            return Err(MeshError::Handshake("connected to itself".into()));
        }
        let role = self.access.assigned_role(&key).unwrap_or(hello.role);
        if role != hello.role {
            tracing::info!(peer = %id, claimed = ?hello.role, assigned = ?role, "the operator's role stands");
        }
        let info = PeerInfo {
            id: id.clone(),
            name: hello.name,
            public_key: key.to_b64u(),
            role,
            claimed_role: hello.role,
            address: peer
                .connection
                .remote
                .as_ref()
                .map(|address| format!("{address:?}")),
            outbound,
        };
        let initiator = if outbound { own.to_owned() } else { id.clone() };
        let rate = NonZeroU32::new(self.config.rate_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(self.config.rate_burst).unwrap_or(rate);
        let connection = Arc::new(PeerConnection {
            peer: info.clone(),
            session: session.clone(),
            limiter: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
            initiator,
            ended: Mutex::new(None),
        });
        let _ = this.set(Arc::downgrade(&connection));
        let replaced = {
            let mut connections = self.connections.lock().unwrap_or_else(|p| p.into_inner());
            match connections.get(&id) {
                // Two nodes that dialled each other at once: both keep the
                // connection dialled by the node with the smaller peer id.
                Some(existing)
                    if existing.initiator != connection.initiator
                        && existing.initiator < connection.initiator =>
                {
                    drop(connections);
                    self.count("duplicate_dropped");
                    let closing = connection.clone();
                    tokio::spawn(async move {
                        close_with(
                            &closing,
                            codes::NORMAL,
                            "duplicate connection: the other one stays",
                        )
                        .await;
                    });
                    return Err(MeshError::Duplicate(id));
                }
                // A newer connection from the same dialler (the peer
                // restarted, the old one is dead but not yet noticed), or
                // the winner of a simultaneous dial: it replaces the old
                // one, which is closed and reported.
                _ => connections.insert(id.clone(), connection.clone()),
            }
        };
        if let Some(old) = replaced {
            self.count("replaced");
            tracing::info!(peer = %id, "a newer connection replaces the old one");
            tokio::spawn(async move {
                close_with(&old, codes::NORMAL, "replaced by a newer connection").await;
            });
        }
        self.count("connected");
        self.connections_changed();
        let _ = self.events.send(MeshEvent::Connected(info.clone()));
        let inner = self.clone();
        self.tasks.spawn(async move {
            // The RPC stream first: when it broke on what the peer sent, the
            // peer may close the session a moment later (it sees its stream
            // reset), and the ending is still this side's protocol error.
            tokio::select! {
                biased;
                _ = connection.session.rpc().closed() => {
                    let why = connection.session.rpc().closed_reason().unwrap_or_default();
                    // A stream that ended with its session is a lost
                    // connection; one that broke on what the peer sent (a
                    // message over the size cap, a malformed frame) is a
                    // protocol error, and only this connection ends.
                    let lost = matches!(why.as_str(), "peer_closed" | "closed" | "session_closed")
                        || why.starts_with("io:");
                    if !lost {
                        connection.end_with(codes::PROTOCOL_ERROR, &format!("protocol error: {why}"), false);
                    }
                    connection.session.close().await;
                }
                _ = connection.session.closed() => {}
                // Every connection is told and closed when the node stops,
                // one whose handshake finished as it stopped too.
                _ = inner.shutdown.cancelled() => {
                    close_with(&connection, codes::SHUTDOWN, "shutting down").await;
                }
            }
            // Its place is free before it is reported gone: a dial that
            // follows the report finds room under the cap.
            drop(slot);
            inner.forget(&connection);
        });
        Ok(info)
    }

    fn forget(&self, connection: &Arc<PeerConnection>) {
        {
            let mut connections = self.connections.lock().unwrap_or_else(|p| p.into_inner());
            if connections
                .get(&connection.peer.id)
                .is_some_and(|current| Arc::ptr_eq(current, connection))
            {
                connections.remove(&connection.peer.id);
            }
        }
        self.connections_changed();
        let (code, reason, by_peer) = connection
            .ended
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or((codes::TIMEOUT, "connection lost".into(), false));
        self.count(format!("disconnected_{code}"));
        let _ = self.events.send(MeshEvent::Disconnected {
            peer: connection.peer.clone(),
            code,
            reason,
            by_peer,
        });
    }
}

fn caller_id(call: &Call) -> Option<String> {
    call.peer().identity.static_key().map(peer_id)
}

/// How long a graceful close waits for the peer to take the notice and
/// close its side.
const NOTICE_WAIT: Duration = Duration::from_secs(1);

/// Sends the notice, lets the peer close on it (it records the code
/// first), and closes after at most a second either way: best effort.
async fn close_with(connection: &PeerConnection, code: u16, reason: &str) {
    connection.end_with(code, reason, false);
    let notice = Notice {
        code,
        reason: reason.to_owned(),
    };
    let told = async {
        if connection
            .session
            .rpc()
            .notify(DISCONNECT, &notice)
            .await
            .is_ok()
        {
            connection.session.closed().await;
        }
    };
    let _ = tokio::time::timeout(NOTICE_WAIT, told).await;
    connection.session.close().await;
}

/// A node's transport.
///
/// ```no_run
/// # async fn run() -> Result<(), corridor_mesh::MeshError> {
/// use corridor_mesh::{Message, NodeIdentity, Role, Transport, TransportConfig};
/// let identity = NodeIdentity::generate("worker-1", Role::Worker);
/// let transport = Transport::new(TransportConfig::default(), identity);
/// transport.on_message(|peer, message| async move {
///     println!("{} says {}", peer.name, message.kind);
/// });
/// transport.start().await?;
/// let peer = transport.connect("ws://controller.example:9091/ws", None).await?;
/// transport.send(&peer.id, Message::new("status", &serde_json::json!({"load": 0.2})).unwrap()).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Transport {
    pub(crate) inner: Arc<Inner>,
}

impl Transport {
    /// A transport for `identity` (orders: types starting `order.`).
    pub fn new(config: TransportConfig, identity: NodeIdentity) -> Transport {
        Transport::with_orders(config, identity, OrderTypes::default())
    }

    /// [`Transport::new`] with the message types that count as orders.
    pub fn with_orders(
        config: TransportConfig,
        identity: NodeIdentity,
        orders: OrderTypes,
    ) -> Transport {
        let dedup = Deduplicator::new(config.dedup_ttl, config.dedup_capacity);
        Transport {
            inner: Arc::new(Inner {
                config,
                identity,
                access: Arc::default(),
                orders,
                handler: OnceLock::new(),
                connections: Mutex::default(),
                slots: AtomicUsize::new(0),
                dedup,
                waiting: Waiting::default(),
                counts: Mutex::default(),
                metrics: crate::metrics::Metrics::new(),
                events: broadcast::channel(1024).0,
                shutdown: CancellationToken::new(),
                tasks: TaskTracker::new(),
                local_addr: OnceLock::new(),
            }),
        }
    }

    /// Sets the message handler (once, before [`Transport::start`]). It
    /// runs off the read loop: a slow handler stalls neither keepalive nor
    /// other peers (past the session's queue, messages are dropped).
    pub fn on_message<F, Fut>(&self, handler: F)
    where
        F: Fn(PeerInfo, Message) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let handler: MessageHandler =
            Arc::new(move |peer, message| Box::pin(handler(peer, message)));
        let _ = self.inner.handler.set(handler);
    }

    /// Who may connect.
    pub fn access(&self) -> &Access {
        &self.inner.access
    }

    /// This node's peer id.
    pub fn peer_id(&self) -> &str {
        self.inner.identity.peer_id()
    }

    /// Its public key.
    pub fn public_key(&self) -> PublicKey {
        self.inner.identity.public_key()
    }

    /// Where it listens, once started.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.local_addr.get().copied()
    }

    /// Connection events (connected, disconnected with code and reason).
    pub fn events(&self) -> broadcast::Receiver<MeshEvent> {
        self.inner.events.subscribe()
    }

    /// Connects to the node at `url` (`ws://host:9091/ws` or `wss://`);
    /// with its `key`, the handshake is IK and refuses anyone else.
    pub async fn connect(&self, url: &str, key: Option<PublicKey>) -> Result<PeerInfo, MeshError> {
        let inner = &self.inner;
        let slot = inner.slot().ok_or(MeshError::AtCapacity)?;
        let secret = inner.identity.secret().clone();
        let mut credential = match key {
            Some(key) => corridor::NoiseCredential::ik(secret, key, CHANNEL_ID),
            None => corridor::NoiseCredential::xx(secret, CHANNEL_ID),
        };
        credential.payload = inner.hello().encode();
        credential.authorizer = inner.authorizer(false);
        let this = ConnectionCell::default();
        let options = inner.session_options(&this);
        let session = corridor::Client::connect_ws(url, credential, &options)
            .await
            .map_err(|error| {
                inner.handshake_failed(error.reason());
                MeshError::from(error)
            })?;
        inner.register(session, true, slot, &this)
    }

    /// Sends `message` to one peer (waiting at most the write timeout for
    /// room in its queue).
    pub async fn send(&self, peer_id: &str, mut message: Message) -> Result<(), MeshError> {
        let connection = self
            .inner
            .connection(peer_id)
            .ok_or_else(|| MeshError::NotConnected(peer_id.to_owned()))?;
        message.from = self.peer_id().to_owned();
        message.to = peer_id.to_owned();
        let message_kind = message.kind.clone();
        let notification = Notification::new(MESSAGE, &message).map_err(MeshError::Rpc)?;
        connection
            .session
            .rpc()
            .send_within(&notification, self.inner.config.write_timeout)
            .await
            .map_err(MeshError::Rpc)?;
        self.inner.count("messages_out");
        self.inner.metrics.message("out", &message_kind);
        Ok(())
    }

    /// Sends `message` to one peer and waits (at most `timeout`) for its
    /// reply: the first message from that peer whose `reply_to` is this
    /// message's id ([`Message::reply`]). The reply goes to the caller, not
    /// to the message handler.
    pub async fn request(
        &self,
        peer_id: &str,
        message: Message,
        timeout: Duration,
    ) -> Result<Message, MeshError> {
        let id = message.id.clone();
        let (reply, _wait) = self.inner.waiting.expect(&id, peer_id);
        self.send(peer_id, message).await?;
        match tokio::time::timeout(timeout, reply).await {
            Ok(Ok(reply)) => Ok(reply),
            _ => Err(MeshError::NoReply(id)),
        }
    }

    /// Sends `message` to every connected peer, encoded once; a peer whose
    /// queue is full misses it (counted). Returns how many it was queued to.
    pub fn broadcast(&self, mut message: Message) -> Result<usize, MeshError> {
        message.from = self.peer_id().to_owned();
        message.to = String::new();
        let notification = Notification::new(MESSAGE, &message).map_err(MeshError::Rpc)?;
        let mut sent = 0;
        for connection in self.connections() {
            match connection.session.rpc().try_send(&notification) {
                Ok(()) => {
                    sent += 1;
                    self.inner.metrics.message("out", &message.kind);
                }
                Err(_) => self.inner.drop_message("broadcast_full"),
            }
        }
        self.inner.count("broadcasts");
        Ok(sent)
    }

    /// Peers connected now.
    pub fn connected_peers(&self) -> usize {
        self.inner
            .connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// The connection to `peer_id`.
    pub fn connection(&self, peer_id: &str) -> Option<Arc<PeerConnection>> {
        self.inner.connection(peer_id)
    }

    /// Every connection.
    pub fn connections(&self) -> Vec<Arc<PeerConnection>> {
        self.inner
            .connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Tells the peer `code` and `reason` (best effort), then closes.
    pub async fn graceful_close(
        &self,
        peer_id: &str,
        reason: &str,
        code: u16,
    ) -> Result<(), MeshError> {
        let connection = self
            .inner
            .connection(peer_id)
            .ok_or_else(|| MeshError::NotConnected(peer_id.to_owned()))?;
        close_with(&connection, code, reason).await;
        Ok(())
    }

    /// Counters: messages in and out, drops by reason, handshake failures
    /// by reason, connections refused at the cap, disconnects by code.
    pub fn stats(&self) -> BTreeMap<String, u64> {
        self.inner
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Its metrics in the Prometheus text format.
    pub fn metrics_text(&self) -> String {
        self.inner.metrics.encode()
    }

    /// Stops listening, tells every peer 1004 "shutting down", and waits
    /// for every connection's task.
    pub async fn stop(&self) {
        // Each connection's task closes it on this (see `register`).
        self.inner.shutdown.cancel();
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }
}
