//! The IPC server: binds the socket, checks each client process before its
//! handshake (credentials, executable), runs the Noise handshake against
//! its allowlisted keys, or behind mutual TLS where a PKI vouches for
//! clients (to a refusal the client can read, for a process the checks
//! refused), and serves the session; SIGTERM-style shutdown
//! stops accepting, removes the socket file and lets open sessions finish.

use crate::hashes::ExecutableHashes;
use crate::policy::PeerPolicy;
use crate::socket::IpcAddr;
use crate::{CHANNEL_ID, IpcError};
use corridor::credential::{AcceptAll, Allowlist, Authorizer, RefuseAll};
use corridor::listener::{HandshakeError, Listener, ListenerConfig};
use corridor::tls::ServerTlsFiles;
use corridor::{Endpoint, EndpointCredential, Session, SessionOptions};
use corridor_core::identity::{PublicKey, StaticSecret};
use corridor_core::noise::ResponderConfig;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long shutdown waits for open sessions before closing them.
const DRAIN: Duration = Duration::from_secs(5);

/// What an IPC server runs with.
#[derive(Clone, Debug)]
pub struct IpcServerConfig {
    /// Where it listens.
    pub addr: IpcAddr,
    /// The server's static key; clients pin its public half.
    pub identity: StaticSecret,
    /// Client keys allowed to connect.
    pub client_keys: Vec<PublicKey>,
    /// Mutual TLS, for deployments with a PKI: the server's certificate and
    /// key, and `client_ca`, which every client's certificate must chain to
    /// (required). The certificate is then the client's credential: the
    /// Noise session inside admits any client key, unless `client_keys`
    /// lists some, when both must pass.
    pub tls: Option<ServerTlsFiles>,
    /// What a client process must be.
    pub policy: PeerPolicy,
    /// Connection caps and the handshake deadline.
    pub listener: ListenerConfig,
}

impl IpcServerConfig {
    /// A server at `addr` with `identity`, admitting `client_keys`, with no
    /// process checks and the default caps (a 10 s handshake deadline).
    pub fn new(addr: IpcAddr, identity: StaticSecret, client_keys: Vec<PublicKey>) -> Self {
        IpcServerConfig {
            addr,
            identity,
            client_keys,
            tls: None,
            policy: PeerPolicy::default(),
            listener: ListenerConfig::default(),
        }
    }
}

/// Refusals and sessions so far, by name.
#[derive(Debug, Default)]
pub struct IpcStats {
    counts: Mutex<BTreeMap<&'static str, u64>>,
}

impl IpcStats {
    fn count(&self, what: &'static str) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        *counts.entry(what).or_default() += 1;
    }

    /// How often `what` happened: `session`, or a refusal's reason
    /// (`uid_not_allowed`, `executable_not_allowed`, `not_allowed` for an
    /// unlisted key, `handshake_timeout`, ...).
    pub fn get(&self, what: &str) -> u64 {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.get(what).copied().unwrap_or_default()
    }

    /// Every count.
    pub fn all(&self) -> BTreeMap<&'static str, u64> {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// A bound IPC server.
#[derive(Debug)]
pub struct IpcServer {
    listener: Listener,
    addr: IpcAddr,
    credential: EndpointCredential,
    policy: Arc<PeerPolicy>,
    hashes: Arc<ExecutableHashes>,
    stats: Arc<IpcStats>,
    shutdown: CancellationToken,
}

/// Stops a running server.
#[derive(Clone, Debug)]
pub struct IpcServerHandle {
    shutdown: CancellationToken,
}

impl IpcServerHandle {
    /// Stops accepting, removes the socket file, and lets open sessions
    /// finish (for a few seconds) before `serve` returns.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }
}

impl IpcServer {
    /// Binds the socket (a live server's is never taken; a stale socket
    /// file is replaced).
    pub async fn bind(config: IpcServerConfig) -> Result<IpcServer, IpcError> {
        let bind = config.addr.prepare()?;
        let mut listener_config = config.listener.clone();
        let authorizer: Arc<dyn Authorizer> = match &config.tls {
            None => Arc::new(Allowlist::new(config.client_keys)),
            Some(files) => {
                if files.client_ca.is_none() {
                    return Err(IpcError::Config(
                        "mutual TLS needs the CA client certificates chain to".into(),
                    ));
                }
                let tls = corridor::tls::load_server_config(files)
                    .map_err(|error| IpcError::Tls(error.to_string()))?;
                listener_config.tls = Some(tls);
                if config.client_keys.is_empty() {
                    Arc::new(AcceptAll)
                } else {
                    Arc::new(Allowlist::new(config.client_keys))
                }
            }
        };
        let listener = Listener::bind(&bind, listener_config)
            .await
            .map_err(|source| IpcError::Bind {
                addr: config.addr.to_string(),
                source,
            })?;
        // The client pins our key: IK, or XX for a client that learns it.
        let responder = ResponderConfig::service(config.identity.clone(), CHANNEL_ID);
        let credential = EndpointCredential::noise(responder, authorizer);
        Ok(IpcServer {
            listener,
            addr: config.addr,
            credential,
            policy: Arc::new(config.policy),
            hashes: Arc::default(),
            stats: Arc::default(),
            shutdown: CancellationToken::new(),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> &IpcAddr {
        &self.addr
    }

    /// Its counters.
    pub fn stats(&self) -> Arc<IpcStats> {
        self.stats.clone()
    }

    /// A handle that stops [`IpcServer::serve`].
    pub fn handle(&self) -> IpcServerHandle {
        IpcServerHandle {
            shutdown: self.shutdown.clone(),
        }
    }

    /// Serves every admitted client with `options` (its router answers
    /// calls; `peer().connection` holds the uid, gid, pid and executable)
    /// and `on_session`, which runs for the session's life (return when it
    /// should close, or wait on `session.closed()`).
    pub async fn serve<F, Fut>(self, options: SessionOptions, on_session: F)
    where
        F: Fn(Arc<Session>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let on_session = Arc::new(on_session);
        let options = Arc::new(options);
        let tasks = TaskTracker::new();
        // Cancelled after the drain: sessions still open are closed then.
        let hard_stop = CancellationToken::new();
        loop {
            let accepted = tokio::select! {
                _ = self.shutdown.cancelled() => break,
                accepted = self.listener.accept() => accepted,
            };
            let (policy, hashes, stats) =
                (self.policy.clone(), self.hashes.clone(), self.stats.clone());
            let (credential, options) = (self.credential.clone(), options.clone());
            let (on_session, hard_stop) = (on_session.clone(), hard_stop.clone());
            tasks.spawn(async move {
                let handshake = accepted.handshake(|mut connection| async move {
                    // Reading a binary is blocking file I/O, and the first
                    // read of a large one takes a while: off the runtime.
                    let (connection, verdict) = tokio::task::spawn_blocking(move || {
                        let verdict = policy.check(&mut connection.info, &hashes);
                        (connection, verdict)
                    })
                    .await
                    .map_err(|_| IpcError::Closed)?;
                    match verdict {
                        Ok(()) => Endpoint::accept_framed(connection, &credential, &options)
                            .await
                            .map_err(IpcError::Handshake),
                        Err(refusal) => {
                            // The handshake still runs, to a refusal: the
                            // client reads why (its uid, its executable)
                            // instead of meeting a closed socket.
                            let refusing = EndpointCredential {
                                authorizer: Arc::new(RefuseAll(refusal.to_string())),
                                ..credential
                            };
                            let _ = Endpoint::accept_framed(connection, &refusing, &options).await;
                            Err(IpcError::Refused(refusal))
                        }
                    }
                });
                match handshake.await {
                    Ok((session, _slot)) => {
                        stats.count("session");
                        let session = Arc::new(session);
                        let serving = on_session(session.clone());
                        tokio::select! {
                            _ = serving => {}
                            _ = hard_stop.cancelled() => {}
                        }
                        session.close().await;
                    }
                    Err(HandshakeError::Failed(error)) => {
                        stats.count(error.reason());
                        tracing::warn!(reason = error.reason(), %error, "client refused");
                    }
                    Err(error) => {
                        stats.count(error.reason());
                        tracing::debug!(reason = error.reason(), "client's handshake ended");
                    }
                }
            });
        }
        // No new clients; the name goes at once so a successor can bind it.
        drop(self.listener);
        if let IpcAddr::Path(path) = &self.addr {
            let _ = std::fs::remove_file(path);
        }
        tasks.close();
        if tokio::time::timeout(DRAIN, tasks.wait()).await.is_err() {
            hard_stop.cancel();
            tasks.wait().await;
        }
    }
}
