//! A session: the streams and the RPC of one secure channel.

use crate::carrier::ws::WsOptions;
use crate::error::Error;
use crate::hello;
use crate::liveness::{self, Liveness};
use crate::mux::{Mux, MuxOptions, Runner, Stream};
use crate::peer::Peer;
use crate::rpc::{Router, Rpc, RpcOptions};
use crate::secure::{Counters, RekeyHandle, SecureOptions, SecureStats, SecureStream};
use corridor_core::Role;
use corridor_core::fsec1::server::HandshakeCache;
use corridor_core::hello::RPC_KIND;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, mpsc};

/// Everything a session can be tuned by. `Default` gives flowersec v1's limits.
#[derive(Clone, Debug)]
pub struct SessionOptions {
    /// How to dial WebSockets.
    pub ws: WsOptions,
    /// Bound on the E2EE handshake.
    pub handshake_timeout: Duration,
    /// Record sizes and the read idle timeout.
    pub secure: SecureOptions,
    /// Stream limits and keepalive.
    pub mux: MuxOptions,
    /// Whether relay channels derive keepalive from their grant (the
    /// default) or keep `secure` and `mux` as set.
    pub liveness: Liveness,
    /// RPC limits and call timeout.
    pub rpc: RpcOptions,
    /// Handlers served from the first moment of the session, usually set with
    /// [`SessionOptions::with_router`]. A [`Router`] cannot change once built,
    /// so sessions started from clones of these options serve the same
    /// handlers and none of them can add to another's.
    pub router: Arc<Router>,
    /// Bound on reading an inbound stream's hello.
    pub hello_timeout: Duration,
    /// Largest hello accepted.
    pub max_hello_bytes: usize,
    /// Pending server handshakes, shared by an endpoint's sessions.
    pub handshake_cache: Arc<HandshakeCache>,
    /// Stream kinds the peer may open; others are reset. `None` accepts any.
    pub stream_kinds: Option<Vec<String>>,
    /// Whether a client opens the `rpc` stream at once (flowersec's clients do).
    pub open_rpc_stream: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            ws: WsOptions::default(),
            handshake_timeout: Duration::from_secs(10),
            secure: SecureOptions {
                read_idle_timeout: Some(Duration::from_secs(45)),
                keepalive_interval: Some(Duration::from_secs(15)),
                ..SecureOptions::default()
            },
            mux: MuxOptions::default(),
            liveness: Liveness::default(),
            rpc: RpcOptions::default(),
            router: Arc::new(Router::new()),
            hello_timeout: Duration::from_secs(10),
            max_hello_bytes: corridor_core::hello::DEFAULT_MAX_BYTES,
            handshake_cache: Arc::new(HandshakeCache::default()),
            stream_kinds: None,
            open_rpc_stream: true,
        }
    }
}

impl SessionOptions {
    /// These options serving `router`'s handlers. Sessions started with
    /// them (or clones of them) serve exactly these; another set of handlers
    /// needs another router.
    ///
    /// ```
    /// use corridor::SessionOptions;
    /// use corridor::rpc::{Failure, Router};
    /// let options = SessionOptions::default()
    ///     .with_router(Router::new().handle(1, |n: u64| async move { Ok::<_, Failure>(n * 2) }));
    /// ```
    pub fn with_router(mut self, router: Router) -> SessionOptions {
        self.router = Arc::new(router);
        self
    }

    /// The handlers sessions serve.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// These options on a relay channel whose grant allows
    /// `idle_timeout_seconds` of silence: keepalive derived from it (see
    /// [`crate::liveness`]) unless `liveness` says `AsConfigured`.
    pub(crate) fn for_grant(&self, idle_timeout_seconds: i32) -> Cow<'_, SessionOptions> {
        let derived = match self.liveness {
            Liveness::FromGrant => liveness::for_idle_timeout(idle_timeout_seconds),
            Liveness::AsConfigured => None,
        };
        let Some(keepalive) = derived else {
            return Cow::Borrowed(self);
        };
        let mut options = self.clone();
        options.secure.keepalive_interval = Some(keepalive.interval);
        options.secure.read_idle_timeout = Some(keepalive.read_idle_timeout);
        options.mux.keepalive_interval = keepalive.interval;
        Cow::Owned(options)
    }
}

/// An established session: open and accept streams, call and serve RPC.
///
/// Dropping the last handle closes the session.
#[derive(Debug)]
pub struct Session {
    role: Role,
    peer: Arc<Peer>,
    mux: Mux,
    accepted: Mutex<mpsc::Receiver<Stream>>,
    rpc: Rpc,
    rekey: RekeyHandle,
    counters: Arc<Counters>,
}

impl Session {
    /// Runs streams and RPC over an established secure channel with `peer`.
    pub async fn start(
        secure: SecureStream,
        peer: Peer,
        role: Role,
        options: &SessionOptions,
    ) -> Result<Session, Error> {
        let rekey = secure.rekey_handle();
        let counters = secure.counters();
        let (mux, inbound) = Mux::start(secure, role, options.mux);
        let peer = Arc::new(peer);
        let rpc = Rpc::new(options.router.clone(), options.rpc, peer.clone());
        let (accepted_tx, accepted) = mpsc::channel(options.mux.accept_backlog.max(1));
        tokio::spawn(sort_inbound(
            inbound,
            rpc.clone(),
            mux.runner(),
            accepted_tx,
            Sorting::from(options),
        ));
        let session = Session {
            role,
            peer,
            mux,
            accepted: Mutex::new(accepted),
            rpc,
            rekey,
            counters,
        };
        if role == Role::Client && options.open_rpc_stream {
            // The client opens the RPC stream, as flowersec's client does.
            let stream = session.open_stream(RPC_KIND).await?;
            session.rpc.bind(stream, &session.mux.runner());
        }
        Ok(session)
    }

    /// This side's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Who is on the other end: the identity the handshake proved, and what
    /// the connection shows (addresses, Unix credentials, TLS details).
    pub fn peer(&self) -> &Peer {
        &self.peer
    }

    /// Opens a stream that carries `kind`.
    pub async fn open_stream(&self, kind: &str) -> Result<Stream, Error> {
        let mut stream = self.mux.open().await?;
        hello::write(&mut stream, kind).await?;
        stream.set_kind(kind.to_owned());
        Ok(stream)
    }

    /// The next stream the peer opened (other than the RPC stream).
    pub async fn accept_stream(&self) -> Result<Stream, Error> {
        self.accepted
            .lock()
            .await
            .recv()
            .await
            .ok_or(Error::SessionClosed)
    }

    /// The session's RPC: call, notify, and the handlers served.
    pub fn rpc(&self) -> &Rpc {
        &self.rpc
    }

    /// Changes this side's sending key: a rekey record goes before the next
    /// record sent. Keys also change on their own after
    /// `SecureOptions::rekey_after_bytes` when the peer advertised rekey support.
    pub fn rekey(&self) {
        self.rekey.request();
    }

    /// Records, bytes, keepalives and key changes that crossed so far.
    pub fn stats(&self) -> SecureStats {
        self.counters.stats()
    }

    /// Closes the session: flushes streams, then closes the carrier.
    pub async fn close(&self) {
        self.rpc.close("session_closed");
        self.mux.close().await;
    }

    /// Why the session ended, once it has: `closed` for an orderly end, or a
    /// failure's name such as `decrypt_failed`, `bad_sequence` or `keepalive_timeout`.
    pub fn end_reason(&self) -> Option<&str> {
        self.mux.end_reason()
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.mux.is_closed()
    }

    /// Waits until the session ends.
    pub async fn closed(&self) {
        self.mux.closed().await
    }
}

/// How inbound streams are checked before `accept_stream` sees them.
#[derive(Clone)]
struct Sorting {
    hello_timeout: Duration,
    max_hello_bytes: usize,
    kinds: Option<Arc<[String]>>,
}

impl From<&SessionOptions> for Sorting {
    fn from(options: &SessionOptions) -> Sorting {
        Sorting {
            hello_timeout: options.hello_timeout,
            max_hello_bytes: options.max_hello_bytes,
            kinds: options
                .stream_kinds
                .as_ref()
                .map(|kinds| kinds.clone().into()),
        }
    }
}

/// Reads each inbound stream's hello (each in its own task, so one slow
/// opener holds up nobody) and routes it: the first `rpc` stream to the RPC,
/// allowed kinds to `accept_stream`. A bad hello or kind resets just that stream.
async fn sort_inbound(
    mut inbound: mpsc::Receiver<Stream>,
    rpc: Rpc,
    runner: Runner,
    accepted: mpsc::Sender<Stream>,
    sorting: Sorting,
) {
    while let Some(mut stream) = inbound.recv().await {
        let (rpc, runner, accepted, sorting) = (
            rpc.clone(),
            runner.clone(),
            accepted.clone(),
            sorting.clone(),
        );
        tokio::spawn(async move {
            let read = hello::read(&mut stream, sorting.max_hello_bytes);
            let kind = match tokio::time::timeout(sorting.hello_timeout, read).await {
                Ok(Ok(kind)) => kind,
                Ok(Err(error)) => {
                    tracing::debug!(reason = error.reason(), %error, "stream refused");
                    return;
                }
                Err(_) => {
                    tracing::debug!(reason = "hello_timeout", "stream refused");
                    return;
                }
            };
            if kind == RPC_KIND {
                if !rpc.bind(stream, &runner) {
                    tracing::debug!(reason = "duplicate_rpc_stream", "stream refused");
                }
                return;
            }
            if sorting
                .kinds
                .as_ref()
                .is_some_and(|kinds| !kinds.contains(&kind))
            {
                tracing::debug!(reason = "unknown_kind", %kind, "stream refused");
                return;
            }
            stream.set_kind(kind);
            if accepted.try_send(stream).is_err() {
                tracing::debug!(reason = "accept_backlog_full", "stream refused");
            }
        });
    }
    rpc.close("session_closed");
}
