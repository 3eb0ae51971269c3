//! corridor's control plane: the service that lets an endpoint behind a
//! relay serve any number of clients.
//!
//! Relay attach tokens are single-use and one channel carries one session,
//! so every client needs a fresh channel. Endpoints keep a control session
//! to the control plane (see [`protocol`]) and register the ids they serve;
//! a client asks `POST /v1/connect/artifact` for an id, the control plane
//! mints a channel, pushes the server grant to one of that id's endpoints
//! (which starts attaching at once) and only then answers the client with
//! its grant, in flowersec 0.27's connect-artifact format. [`agent`] is the
//! endpoint side, [`client`] the client side.
//!
//! ```no_run
//! # async fn run(config: corridor_controlplane::ControlPlaneConfig) -> std::io::Result<()> {
//! let control_plane = corridor_controlplane::ControlPlane::bind(config).await?;
//! println!("{}", control_plane.ready_line());
//! control_plane.run().await;
//! # Ok(()) }
//! ```

pub mod agent;
mod api;
mod auth;
pub mod client;
mod control;
mod metrics;
pub mod protocol;
mod registry;
mod state;

pub use api::{ARTIFACT_PATH, CHANNEL_INIT_PATH};
pub use auth::{RateLimit, parse_tokens_file};

use corridor::listener::{BindAddr, Listener, ListenerConfig};
use corridor::peer::Address;
use corridor::{DirectCredential, SessionOptions};
use corridor_core::fsec1::Suite;
use corridor_core::grant::GrantParams;
use corridor_core::keys::IssuerKey;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use state::State;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

/// flowersec's bound on a request body.
pub const DEFAULT_MAX_BODY_BYTES: usize = 32 * 1024;

/// Everything a control plane runs with.
#[derive(Debug)]
pub struct ControlPlaneConfig {
    /// Where the API and the control sessions listen.
    pub listen: SocketAddr,
    /// The key grants are signed with (the relay trusts its public half).
    pub issuer: IssuerKey,
    /// The relay's URL, audience and issuer, the windows and suites of grants.
    pub grants: GrantParams,
    /// Bearer tokens API callers must present; none: loopback callers only.
    pub api_tokens: Vec<String>,
    /// The PSK endpoints authenticate their control sessions with.
    pub control_psk: Zeroizing<[u8; 32]>,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Requests per caller.
    pub rate: RateLimit,
    /// How long an endpoint has to take a pushed grant before the next is tried.
    pub push_timeout: Duration,
    /// Connection caps of the listener.
    pub listener: ListenerConfig,
}

impl ControlPlaneConfig {
    /// A configuration with the defaults for everything but the key, the
    /// grants and the control PSK.
    pub fn new(issuer: IssuerKey, grants: GrantParams, control_psk: [u8; 32]) -> Self {
        ControlPlaneConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8090)),
            issuer,
            grants,
            api_tokens: Vec::new(),
            control_psk: Zeroizing::new(control_psk),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            rate: RateLimit::default(),
            push_timeout: Duration::from_secs(5),
            listener: ListenerConfig::default(),
        }
    }
}

/// A bound control plane.
#[derive(Debug)]
pub struct ControlPlane {
    state: Arc<State>,
    listener: Listener,
    local: SocketAddr,
}

/// Stops a running control plane.
#[derive(Clone, Debug)]
pub struct ControlPlaneHandle {
    shutdown: CancellationToken,
}

impl ControlPlaneHandle {
    /// Stops accepting, closes control sessions, and lets `run` return.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }
}

impl ControlPlane {
    /// Binds the listener.
    pub async fn bind(config: ControlPlaneConfig) -> std::io::Result<ControlPlane> {
        let listener =
            Listener::bind(&BindAddr::Tcp(config.listen), config.listener.clone()).await?;
        let local = match listener.local_addr() {
            Address::Tcp(addr) => *addr,
            _ => config.listen,
        };
        let control_credential = DirectCredential {
            psk: config.control_psk.clone(),
            suite: Suite::X25519HkdfSha256Aes256Gcm,
            channel_id: Some(protocol::CONTROL_CHANNEL_ID.to_owned()),
            init_exp_unix_s: protocol::CONTROL_INIT_EXP,
        };
        let state = Arc::new(State {
            gate: auth::Gate::new(&config.api_tokens, config.rate),
            registry: Default::default(),
            metrics: metrics::Metrics::new(),
            next_session: Default::default(),
            control_options: SessionOptions::default(),
            control_credential,
            shutdown: CancellationToken::new(),
            tasks: Default::default(),
            config,
        });
        Ok(ControlPlane {
            state,
            listener,
            local,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The base URL clients and endpoints use.
    pub fn url(&self) -> String {
        format!("http://{}", self.local)
    }

    /// One JSON line for scripts: where it listens, which relay its grants
    /// name, and whether callers need a token.
    pub fn ready_line(&self) -> String {
        serde_json::json!({
            "controlplane_url": self.url(),
            "artifact_url": format!("{}{}", self.url(), ARTIFACT_PATH),
            "tunnel_url": self.state.config.grants.tunnel_url,
            "callers": if self.state.gate.requires_tokens() { "bearer token" } else { "loopback only" },
        })
        .to_string()
    }

    /// A handle that stops [`ControlPlane::run`].
    pub fn handle(&self) -> ControlPlaneHandle {
        ControlPlaneHandle {
            shutdown: self.state.shutdown.clone(),
        }
    }

    /// Serves until shut down, then waits for control sessions to close.
    pub async fn run(self) {
        let state = self.state;
        loop {
            let accepted = tokio::select! {
                _ = state.shutdown.cancelled() => break,
                accepted = self.listener.accept() => accepted,
            };
            let remote = match &accepted.info().remote {
                Some(Address::Tcp(addr)) => *addr,
                _ => SocketAddr::from(([0, 0, 0, 0], 0)),
            };
            let state = state.clone();
            state.tasks.clone().spawn(async move {
                let Ok((connection, _slot)) = accepted
                    .handshake(|connection| async { Ok::<_, std::convert::Infallible>(connection) })
                    .await
                else {
                    return;
                };
                serve_http(state, connection.io, remote).await;
            });
        }
        state.tasks.close();
        state.tasks.wait().await;
    }
}

async fn serve_http(state: Arc<State>, io: Box<dyn corridor::carrier::ByteIo>, remote: SocketAddr) {
    let service_state = state.clone();
    let service = service_fn(move |req| api::route(service_state.clone(), remote, req));
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(state.config.listener.handshake_timeout)
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, "http connection ended with an error");
            }
        }
        _ = state.shutdown.cancelled() => connection.as_mut().graceful_shutdown(),
    }
}
