//! The relay process: its listeners and their accept loops, TLS, the ready
//! line, and the handle operators steer it with (reload, metrics, shutdown).

use crate::config::{ConfigError, RelayConfig, TlsFiles};
use crate::http::{self, Listener};
use crate::metrics::Metrics;
use crate::pairing::Registry;
use crate::refusals::{RefusalLog, Severity};
use crate::replay::ReplayCache;
use crate::slots::Connections;
use crate::state::Shared;
use crate::verifier::{LoadKeysError, Verifier};
use corridor::carrier::HandshakeProgress;
use corridor::carrier::read_ahead::ReadAheadBudget;
use corridor::listener::{self as shared_listener, BindAddr, HandshakeError, ListenerConfig};
use corridor::peer::Address;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Why a relay could not start.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// A setting is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The issuer keys could not be loaded.
    #[error(transparent)]
    Keys(#[from] LoadKeysError),
    /// The TLS certificate or key could not be loaded.
    #[error("tls: {0}")]
    Tls(String),
    /// A listener could not be bound.
    #[error("listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A bound relay, ready to [`Relay::run`].
///
/// Its listeners are corridor's shared [`Listener`](corridor::listener::Listener):
/// at most `--max-handshaking-conns` connections in their TLS and HTTP
/// phase, the one that has waited longest closed to make room for a new one
/// (those whose whole request has arrived last).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use corridor_relay::{Relay, RelayConfig};
/// let mut config = RelayConfig::new("/etc/corridor/issuer_keys.json", "relay-aud", "my-cp");
/// config.origins.allow_no_origin = true;
/// let relay = Relay::bind(config).await?;
/// println!("{}", relay.ready_line());
/// relay.run().await;
/// # Ok(()) }
/// ```
pub struct Relay {
    shared: Arc<Shared>,
    listener: shared_listener::Listener,
    metrics_listener: Option<shared_listener::Listener>,
    tls: bool,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("listen", &self.local_addr())
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// Steers a running relay from elsewhere (signal handlers, tests).
#[derive(Clone, Debug)]
pub struct RelayHandle {
    shared: Arc<Shared>,
}

impl RelayHandle {
    /// Re-reads the issuer keys file; channels and their tokens are untouched.
    /// On error the old keys stay in force. Returns the number of keys.
    pub fn reload_keys(&self) -> Result<usize, LoadKeysError> {
        let result = self.shared.verifier.reload();
        self.shared.metrics.key_reload(result.is_ok());
        result
    }

    /// Turns `/metrics` on (SIGUSR1) or off (SIGUSR2).
    pub fn set_metrics_enabled(&self, on: bool) {
        self.shared.metrics.set_enabled(on);
    }

    /// Stops accepting and closes every connection with 1001 `shutdown`.
    pub fn shutdown(&self) {
        self.shared.shutdown.cancel();
    }

    /// The metrics, for inspection.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Channels currently paired or waiting.
    pub fn channel_count(&self) -> usize {
        self.shared.registry.len()
    }

    /// Connections of the main listener still in their TLS or HTTP phase.
    pub fn handshaking(&self) -> usize {
        self.shared
            .listener_stats
            .handshaking
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Relay {
    /// Validates the configuration, loads keys and TLS material, and binds the listeners.
    pub async fn bind(config: RelayConfig) -> Result<Relay, RelayError> {
        config.validate()?;
        let limits = &config.limits;
        let verifier = Verifier::load(
            &config.issuer_keys_file,
            &config.audience,
            &config.issuer,
            limits,
        )?;
        let tls = config.tls.as_ref().map(load_tls).transpose()?;
        let listener_config = ListenerConfig {
            // Upgraded connections count against --max-conns; this bounds
            // the ones before their upgrade too.
            max_connections: limits
                .max_conns
                .saturating_add(limits.max_handshaking_conns),
            max_handshaking: limits.max_handshaking_conns.max(1),
            handshake_timeout: limits.http_header_timeout,
            tls: tls.clone(),
        };
        let bind = |addr: SocketAddr| {
            let listener_config = listener_config.clone();
            async move {
                shared_listener::Listener::bind(&BindAddr::Tcp(addr), listener_config)
                    .await
                    .map_err(|source| RelayError::Bind { addr, source })
            }
        };
        let metrics_listener = match config.metrics_listen {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let listener = bind(config.listen).await?;
        let metrics = Arc::new(Metrics::new(config.metrics_enabled));
        let shared = Arc::new(Shared {
            replay: Box::new(ReplayCache::new(
                limits.max_replay_bytes,
                limits.max_replay_entries,
            )),
            refusals: RefusalLog::default(),
            registry: Registry::new(
                verifier.audience(),
                verifier.issuer(),
                limits,
                metrics.clone(),
            ),
            connections: Connections::new(limits.max_conns, metrics.clone()),
            verifier,
            metrics,
            read_ahead: ReadAheadBudget::new(limits.max_read_ahead_bytes),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            listener_stats: listener.stats().clone(),
            config,
        });
        Ok(Relay {
            shared,
            listener,
            metrics_listener,
            tls: tls.is_some(),
        })
    }

    /// The main listener's address.
    pub fn local_addr(&self) -> SocketAddr {
        tcp_addr(&self.listener).unwrap_or(self.shared.config.listen)
    }

    /// The metrics listener's address, if there is one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().and_then(tcp_addr)
    }

    /// `host:port` for the URLs of a listener bound to `addr`: the advertised
    /// host when there is one.
    fn public_authority(&self, addr: SocketAddr, advertised_port: bool) -> String {
        match &self.shared.config.advertise_host {
            Some(public) if advertised_port => public.authority(addr.port()),
            Some(public) => format!("{}:{}", public.host(), addr.port()),
            None => addr.to_string(),
        }
    }

    /// The WebSocket URL endpoints attach to.
    pub fn ws_url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!(
            "{scheme}://{}{}",
            self.public_authority(self.local_addr(), true),
            self.shared.config.ws_path
        )
    }

    /// The one JSON line a relay prints on stdout when it is ready.
    pub fn ready_line(&self) -> serde_json::Value {
        let http = if self.tls { "https" } else { "http" };
        let addr = self.local_addr();
        let public = self.public_authority(addr, true);
        let mut line = serde_json::json!({
            "ready": true,
            "service": "corridor-relay",
            "version": env!("CARGO_PKG_VERSION"),
            "listen": addr.to_string(),
            "ws_path": self.shared.config.ws_path,
            "ws_url": self.ws_url(),
            "http_url": format!("{http}://{public}"),
            "healthz_url": format!("{http}://{public}/healthz"),
            "aud": self.shared.config.audience,
            "iss": self.shared.config.issuer,
        });
        if let Some(advertised) = &self.shared.config.advertise_host {
            line["advertise_host"] = advertised.to_string().into();
        }
        // A separate metrics listener keeps its own port under the public host.
        let metrics = match self.metrics_addr() {
            Some(metrics_addr) => self.public_authority(metrics_addr, false),
            None => public,
        };
        line["metrics_url"] = format!("{http}://{metrics}/metrics").into();
        line
    }

    /// A handle to steer the relay while it runs.
    pub fn handle(&self) -> RelayHandle {
        RelayHandle {
            shared: self.shared.clone(),
        }
    }

    /// Serves until [`RelayHandle::shutdown`], then closes every connection
    /// (bounded by a short grace period) and returns.
    pub async fn run(self) {
        let Relay {
            shared,
            listener,
            metrics_listener,
            ..
        } = self;
        if let Some(metrics_listener) = metrics_listener {
            let shared = shared.clone();
            shared
                .tasks
                .clone()
                .spawn(accept_loop(shared, metrics_listener, Listener::Metrics));
        }
        accept_loop(shared.clone(), listener, Listener::Main).await;
        shared.tasks.close();
        if tokio::time::timeout(Duration::from_secs(5), shared.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some connections did not close within 5 s of shutdown");
        }
    }
}

fn tcp_addr(listener: &shared_listener::Listener) -> Option<SocketAddr> {
    match listener.local_addr() {
        Address::Tcp(addr) => Some(*addr),
        _ => None,
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: shared_listener::Listener, which: Listener) {
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let peer = match &accepted.info().remote {
            Some(Address::Tcp(addr)) => *addr,
            _ => SocketAddr::from(([0, 0, 0, 0], 0)),
        };
        let shared = shared.clone();
        shared.tasks.clone().spawn(async move {
            // The TLS and HTTP phase, until the upgrade hands the socket to
            // its WebSocket task or the connection ends.
            let phase = accepted.handshake(|connection| async {
                let progress = connection.progress;
                serve_http(shared.clone(), connection.io, which, peer, progress).await;
                Ok::<_, std::convert::Infallible>(())
            });
            if let Err(error) = phase.await {
                let reason = match error {
                    HandshakeError::Evicted => "handshake_evicted",
                    HandshakeError::TimedOut => "handshake_timeout",
                    HandshakeError::Tls(ref error) => {
                        tracing::debug!(%peer, %error, "tls handshake failed");
                        "tls_failed"
                    }
                    HandshakeError::Failed(never) => match never {},
                };
                shared.metrics.http_rejected(reason);
                let severity = match reason {
                    "handshake_evicted" => Severity::Capacity,
                    _ => Severity::Peer,
                };
                shared.refusals.refused(peer, reason, severity);
            }
        });
    }
}

async fn serve_http<S>(
    shared: Arc<Shared>,
    stream: S,
    which: Listener,
    peer: SocketAddr,
    progress: HandshakeProgress,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let handler_shared = shared.clone();
    let handler = move |req| {
        // A whole request head has arrived: this is no slow client, and a
        // full handshake cap closes slower ones before it.
        progress.complete();
        http::route(handler_shared.clone(), which, peer, req)
    };
    shared_listener::http::serve_http(
        stream,
        handler,
        shared.config.limits.http_header_timeout,
        &shared.shutdown,
    )
    .await;
}

fn load_tls(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, RelayError> {
    corridor::tls::load_server_config(&corridor::tls::ServerTlsFiles {
        cert: files.cert.clone(),
        key: files.key.clone(),
        client_ca: None,
    })
    .map_err(|error| {
        let flag = match error.file {
            corridor::tls::TlsFile::Key => "--tls-key-file",
            _ => "--tls-cert-file",
        };
        RelayError::Tls(format!("{flag} {}: {}", error.path.display(), error.detail))
    })
}
