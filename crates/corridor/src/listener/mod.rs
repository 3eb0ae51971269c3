//! One listener for every service: TCP, Unix path sockets and Linux
//! abstract sockets, optionally TLS, with the bounds a public server needs.
//!
//! - A connection cap: connections past it are closed at once and counted
//!   (`refused_at_cap`).
//! - A handshake cap and deadline: the TLS handshake and the service's own
//!   (a WebSocket upgrade, a preface, the E2EE handshake) run under
//!   [`Accepted::handshake`], which ends them at the deadline, and which
//!   closes the handshake that has waited longest when a new connection
//!   needs its place (one whose request has arrived, as the work reports
//!   through [`Connection::progress`](crate::carrier::Connection), only
//!   after every other: corridor's WebSocket and framed endpoints report it
//!   themselves). Slow connections (slowloris, half-open handshakes)
//!   therefore cannot hold the places quick clients need, and whatever a
//!   handshake holds (a server's pending fsec1 handshake entry) is freed
//!   with it.
//! - Accept errors (out of file descriptors, a reset before accept) are
//!   counted, logged, and backed off from; they never end the listener.
//!
//! ```no_run
//! # async fn run(credential: corridor::EndpointCredential) -> std::io::Result<()> {
//! use corridor::listener::{Listener, ListenerConfig};
//! use corridor::{Endpoint, SessionOptions};
//! let listener = Listener::bind(&"127.0.0.1:9000".parse().unwrap(), ListenerConfig::default()).await?;
//! loop {
//!     let accepted = listener.accept().await;
//!     let credential = credential.clone();
//!     tokio::spawn(async move {
//!         let options = SessionOptions::default();
//!         let handshake = accepted
//!             .handshake(|connection| Endpoint::accept_direct(connection, &credential, &options));
//!         if let Ok((session, _slot)) = handshake.await {
//!             session.closed().await; // the slot counts the connection until here
//!         }
//!     });
//! }
//! # }
//! ```

mod address;
pub mod http;
#[cfg(windows)]
mod pipe;
mod slots;
pub mod upgrade;

pub use address::{BindAddr, PIPE_PREFIX};
pub use slots::{ConnectionSlot, ListenerStats};

use crate::carrier::{ByteIo, Connection};
use crate::peer::{Address, ConnectionInfo, TlsInfo};
use address::Socket;
use slots::{HandshakeSlot, Handshakes};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The bounds of a listener.
#[derive(Clone, Debug)]
pub struct ListenerConfig {
    /// Open connections, handshaking or not. Past it a new connection is
    /// closed at once (`ListenerStats::refused_at_cap`).
    pub max_connections: usize,
    /// Connections still in their handshake. Past it the one that has waited
    /// longest is closed (`ListenerStats::evicted`). Keep it below the fsec1
    /// handshake cache (4,096): each handshake holds at most one entry.
    pub max_handshaking: usize,
    /// Time from accept to the end of the handshake (TLS and the service's).
    pub handshake_timeout: Duration,
    /// Serve TLS with this configuration (see [`crate::tls`]).
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            max_connections: 10_000,
            max_handshaking: 1024,
            handshake_timeout: Duration::from_secs(10),
            tls: None,
        }
    }
}

/// Why a connection's handshake phase ended without a result.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError<E> {
    /// Closed to make room for a newer handshake.
    #[error("handshake closed to make room for a newer one")]
    Evicted,
    /// Not finished within the deadline.
    #[error("handshake timed out")]
    TimedOut,
    /// The TLS handshake failed.
    #[error("tls: {0}")]
    Tls(std::io::Error),
    /// The service's handshake failed.
    #[error(transparent)]
    Failed(E),
}

impl<E> HandshakeError<E> {
    /// A stable name for logs and metrics (the service's own error is `failed`).
    pub fn reason(&self) -> &'static str {
        match self {
            HandshakeError::Evicted => "evicted",
            HandshakeError::TimedOut => "handshake_timeout",
            HandshakeError::Tls(_) => "tls_failed",
            HandshakeError::Failed(_) => "failed",
        }
    }
}

/// A bound listener.
pub struct Listener {
    socket: Socket,
    local: Address,
    config: ListenerConfig,
    stats: Arc<ListenerStats>,
    handshakes: Arc<Handshakes>,
    /// The wait after the next accept error, in milliseconds.
    backoff_ms: AtomicU64,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("local", &self.local)
            .field("tls", &self.config.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// The first and the longest wait after an accept error.
const BACKOFF_MS: (u64, u64) = (5, 1000);

impl Listener {
    /// Binds `addr`.
    pub async fn bind(addr: &BindAddr, config: ListenerConfig) -> std::io::Result<Listener> {
        let socket = addr.bind().await?;
        let local = match &socket {
            Socket::Tcp(listener) => Address::Tcp(listener.local_addr()?),
            #[cfg(unix)]
            Socket::Unix(_) => match addr {
                BindAddr::UnixPath(path) => Address::UnixPath(path.clone()),
                BindAddr::UnixAbstract(name) => Address::UnixAbstract(name.clone()),
                BindAddr::Tcp(_) | BindAddr::Pipe(_) => Address::UnixUnnamed,
            },
            #[cfg(windows)]
            Socket::Pipe(_) => match addr {
                BindAddr::Pipe(name) => Address::Pipe(name.clone()),
                other => Address::Pipe(other.to_string()),
            },
        };
        let stats = Arc::new(ListenerStats::default());
        Ok(Listener {
            socket,
            local,
            handshakes: Handshakes::new(config.max_handshaking, stats.clone()),
            stats,
            config,
            backoff_ms: AtomicU64::new(BACKOFF_MS.0),
        })
    }

    /// Where it listens (with the port the system chose for port 0).
    pub fn local_addr(&self) -> &Address {
        &self.local
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<ListenerStats> {
        &self.stats
    }

    /// The next connection within the caps. Never fails: accept errors are
    /// counted and waited out.
    pub async fn accept(&self) -> Accepted {
        loop {
            let accepted = match &self.socket {
                Socket::Tcp(listener) => listener.accept().await.map(|(stream, _)| {
                    // Records are written whole: Nagle would hold small ones back.
                    let _ = stream.set_nodelay(true);
                    let info = ConnectionInfo::tcp(&stream);
                    (Box::new(stream) as Box<dyn ByteIo>, info)
                }),
                #[cfg(unix)]
                Socket::Unix(listener) => listener.accept().await.map(|(stream, _)| {
                    let mut info = ConnectionInfo::unix(&stream);
                    info.local.get_or_insert_with(|| self.local.clone());
                    (Box::new(stream) as Box<dyn ByteIo>, info)
                }),
                // A pipe says nothing of its client: no address, no credentials.
                #[cfg(windows)]
                Socket::Pipe(listener) => listener.accept().await.map(|pipe| {
                    let info = ConnectionInfo {
                        local: Some(self.local.clone()),
                        ..Default::default()
                    };
                    (Box::new(pipe) as Box<dyn ByteIo>, info)
                }),
            };
            let (io, info) = match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    ListenerStats::count(&self.stats.accept_errors);
                    let wait = self.backoff_ms.load(Ordering::Relaxed);
                    tracing::warn!(%error, wait_ms = wait, "accept failed; backing off");
                    self.backoff_ms
                        .store((wait * 2).min(BACKOFF_MS.1), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                    continue;
                }
            };
            self.backoff_ms.store(BACKOFF_MS.0, Ordering::Relaxed);
            let Some(slot) = slots::open_slot(&self.stats, self.config.max_connections) else {
                ListenerStats::count(&self.stats.refused_at_cap);
                tracing::debug!(peer = ?info.remote, "connection cap reached: closed");
                continue;
            };
            ListenerStats::count(&self.stats.accepted);
            return Accepted {
                io,
                info,
                slot,
                handshake: self.handshakes.begin(),
                tls: self.config.tls.clone(),
                timeout: self.config.handshake_timeout,
                stats: self.stats.clone(),
            };
        }
    }
}

/// An accepted connection in its handshake phase.
pub struct Accepted {
    io: Box<dyn ByteIo>,
    info: ConnectionInfo,
    slot: ConnectionSlot,
    handshake: HandshakeSlot,
    tls: Option<Arc<rustls::ServerConfig>>,
    timeout: Duration,
    stats: Arc<ListenerStats>,
}

impl std::fmt::Debug for Accepted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accepted")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Accepted {
    /// What is known of the connection before any handshake.
    pub fn info(&self) -> &ConnectionInfo {
        &self.info
    }

    /// Runs the handshake phase: the TLS handshake when the listener serves
    /// TLS, then `work` on the connection, within the deadline and until a
    /// newer handshake needs the place. Returns `work`'s result and the slot
    /// that counts the connection against the cap until it is dropped.
    pub async fn handshake<T, E, F, Fut>(
        self,
        work: F,
    ) -> Result<(T, ConnectionSlot), HandshakeError<E>>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let Accepted {
            io,
            mut info,
            slot,
            handshake,
            tls,
            timeout,
            stats,
        } = self;
        let counters = stats.clone();
        let progress = handshake.progress();
        let phase = async move {
            let io = match tls {
                None => io,
                Some(config) => {
                    let stream = tokio_rustls::TlsAcceptor::from(config)
                        .accept(io)
                        .await
                        .map_err(|error| {
                            ListenerStats::count(&stats.tls_failures);
                            HandshakeError::Tls(error)
                        })?;
                    let connection = stream.get_ref().1;
                    info.tls = Some(TlsInfo {
                        server_name: connection.server_name().map(str::to_owned),
                        client_certificates: connection
                            .peer_certificates()
                            .map(|certs| certs.iter().map(|cert| cert.to_vec()).collect())
                            .unwrap_or_default(),
                    });
                    Box::new(stream) as Box<dyn ByteIo>
                }
            };
            work(Connection { io, info, progress })
                .await
                .map_err(HandshakeError::Failed)
        };
        let outcome = tokio::select! {
            outcome = tokio::time::timeout(timeout, phase) => match outcome {
                Ok(outcome) => outcome,
                Err(_) => {
                    ListenerStats::count(&counters.handshake_timeouts);
                    Err(HandshakeError::TimedOut)
                }
            },
            _ = handshake.evicted() => Err(HandshakeError::Evicted),
        };
        drop(handshake);
        outcome.map(|value| (value, slot))
    }
}
