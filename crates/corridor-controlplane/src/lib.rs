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
mod endpoint_keys;
mod metrics;
pub mod protocol;
mod registry;
mod state;

pub use api::{ARTIFACT_PATH, CHANNEL_INIT_PATH};
pub use auth::{RateLimit, parse_tokens_file};
pub use endpoint_keys::{EndpointKeys, EndpointKeysError};

use corridor::credential::{AcceptAll, Authorizer};
use corridor::listener::{BindAddr, Listener, ListenerConfig};
use corridor::peer::Address;
use corridor::{DirectCredential, EndpointCredential, SessionOptions};
use corridor_core::fsec1::Suite;
use corridor_core::grant::GrantParams;
use corridor_core::identity::StaticSecret;
use corridor_core::keys::IssuerKey;
use corridor_core::noise::ResponderConfig;
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
    /// The PSK endpoints may authenticate their control sessions with
    /// (fsec1; any holder may register any id). `None`: Noise only.
    pub control_psk: Option<Zeroizing<[u8; 32]>>,
    /// The control plane's key and the endpoint keys allowed, for Noise
    /// control sessions (each key limited to its endpoint ids).
    pub control_noise: Option<ControlNoise>,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Requests per caller.
    pub rate: RateLimit,
    /// How long an endpoint has to take a pushed grant before the next is tried.
    pub push_timeout: Duration,
    /// Connection caps of the listener.
    pub listener: ListenerConfig,
}

/// Noise control sessions: who the control plane is, and who may connect.
#[derive(Debug)]
pub struct ControlNoise {
    /// The control plane's static key; endpoints pin its public half.
    pub identity: StaticSecret,
    /// The endpoints' keys and the ids each may register.
    pub endpoint_keys: EndpointKeys,
}

impl ControlPlaneConfig {
    /// A configuration with the defaults for everything but the key and
    /// the grants. Set `control_psk` or `control_noise` so endpoints can
    /// connect.
    pub fn new(issuer: IssuerKey, grants: GrantParams) -> Self {
        ControlPlaneConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8090)),
            issuer,
            grants,
            api_tokens: Vec::new(),
            control_psk: None,
            control_noise: None,
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
        let control_credential = control_credential(&config);
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
    /// name, whether callers need a token, and the key endpoints pin.
    pub fn ready_line(&self) -> String {
        let mut line = serde_json::json!({
            "controlplane_url": self.url(),
            "artifact_url": format!("{}{}", self.url(), ARTIFACT_PATH),
            "tunnel_url": self.state.config.grants.tunnel_url,
            "callers": if self.state.gate.requires_tokens() { "bearer token" } else { "loopback only" },
        });
        if let Some(noise) = &self.state.config.control_noise {
            line["control_key"] = noise.identity.public_key().to_b64u().into();
        }
        line.to_string()
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

/// Every suite control sessions may use: Noise first (it proves which
/// endpoint this is), then the PSK.
fn control_credential(config: &ControlPlaneConfig) -> EndpointCredential {
    let fsec1 = config.control_psk.as_ref().map(|psk| DirectCredential {
        psk: psk.clone(),
        suite: Suite::X25519HkdfSha256Aes256Gcm,
        channel_id: Some(protocol::CONTROL_CHANNEL_ID.to_owned()),
        init_exp_unix_s: protocol::CONTROL_INIT_EXP,
    });
    let (noise, authorizer): (_, Arc<dyn Authorizer>) = match &config.control_noise {
        Some(noise) => {
            let mut responder = ResponderConfig::new(noise.identity.clone());
            responder.channel_id = Some(protocol::CONTROL_CHANNEL_ID.to_owned());
            (Some(responder), Arc::new(noise.endpoint_keys.clone()))
        }
        None => (None, Arc::new(AcceptAll)),
    };
    EndpointCredential {
        fsec1,
        noise,
        authorizer,
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
