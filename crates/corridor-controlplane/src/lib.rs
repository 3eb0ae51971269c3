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
mod config;
mod control;
mod endpoint_keys;
mod error;
mod metrics;
pub mod protocol;
mod registry;
mod state;

pub use api::{ARTIFACT_PATH, CHANNEL_INIT_PATH};
pub use auth::{RateLimit, parse_tokens_file};
pub use config::{ControlNoise, ControlPlaneConfig, DEFAULT_MAX_BODY_BYTES};
pub use endpoint_keys::{EndpointKeys, EndpointKeysError};

use corridor::SessionOptions;
use corridor::listener::http::serve_http;
use corridor::listener::{BindAddr, Listener};
use corridor::peer::Address;
use state::State;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

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
        let control_credential = config::control_credential(&config);
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
                let handler_state = state.clone();
                let handler = move |req| api::route(handler_state.clone(), remote, req);
                let timeout = state.config.listener.handshake_timeout;
                serve_http(connection.io, handler, timeout, &state.shutdown).await;
            });
        }
        state.tasks.close();
        state.tasks.wait().await;
    }
}
