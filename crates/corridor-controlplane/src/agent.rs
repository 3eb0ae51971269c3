//! The endpoint side of a control session: stay connected to the control
//! plane (reconnecting with backoff), register an endpoint id, and hand
//! every pushed server grant to the application, which attaches a relay
//! session for it.
//!
//! ```no_run
//! # async fn run(psk: [u8; 32]) -> Result<(), corridor_controlplane::agent::AgentError> {
//! use corridor_controlplane::agent::{self, AgentConfig};
//! use corridor::SessionOptions;
//! use std::sync::Arc;
//! let config = AgentConfig::new("http://127.0.0.1:8090", "files", psk);
//! let link = agent::spawn(config, Arc::new(|grant| {
//!     tokio::spawn(async move {
//!         let session = agent::attach(&grant, &SessionOptions::default()).await;
//!         // serve the session ...
//!     });
//!     Ok(())
//! }))?;
//! link.session().await; // registered
//! # Ok(()) }
//! ```

use crate::protocol::{self, GRANT, GrantPush, REGISTER, Register};
use corridor::credential::NoiseCredential;
use corridor::reconnect::{Backoff, Reconnecting};
use corridor::rpc::{Failure, Router};
use corridor::{
    Client, ClientCredential, DirectCredential, Endpoint, Error, Session, SessionOptions,
};
use corridor_core::fsec1::Suite;
use corridor_core::grant::ChannelInitGrant;
use corridor_core::identity::{PublicKey, StaticSecret};
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

/// Takes a pushed grant: `Ok` once the application has it (attaching may
/// still be under way), `Err` to refuse it (the control plane then tries
/// another endpoint of the id).
pub type OnGrant = Arc<dyn Fn(ChannelInitGrant) -> Result<(), Failure> + Send + Sync>;

/// Why an agent cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The control plane URL is not `http://` or `https://` with a host.
    #[error("control plane URL {0:?}: expected http://HOST:PORT or https://HOST:PORT")]
    InvalidUrl(String),
    /// The endpoint id is empty or too long.
    #[error("endpoint id: {0}")]
    InvalidEndpointId(&'static str),
}

/// How the endpoint proves itself on the control session.
#[derive(Clone, Debug)]
pub enum ControlCredential {
    /// The control plane's PSK (fsec1): whoever holds it may register any id.
    Psk(Zeroizing<[u8; 32]>),
    /// This endpoint's key, and the control plane's key pinned (Noise IK):
    /// the control plane knows which endpoint this is and which ids it may
    /// register, and the endpoint knows it reached the real control plane.
    Noise {
        /// This endpoint's static key (listed in the control plane's
        /// endpoint keys).
        identity: StaticSecret,
        /// The control plane's public key (its ready line's `control_key`).
        controlplane_key: PublicKey,
    },
}

/// Where the control plane is and who this endpoint is.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// The control plane's base URL (`http://127.0.0.1:8090`).
    pub controlplane_url: String,
    /// The id clients ask for.
    pub endpoint_id: String,
    /// How the control session is authenticated.
    pub credential: ControlCredential,
    /// Waits between connection attempts.
    pub backoff: Backoff,
    /// Options of the control session (its router is replaced).
    pub options: SessionOptions,
}

impl AgentConfig {
    /// Defaults for everything but the URL, the id and the PSK.
    pub fn new(controlplane_url: &str, endpoint_id: &str, psk: [u8; 32]) -> AgentConfig {
        AgentConfig::with(
            controlplane_url,
            endpoint_id,
            ControlCredential::Psk(Zeroizing::new(psk)),
        )
    }

    /// Defaults for everything but the URL, the id and the credential.
    pub fn with(
        controlplane_url: &str,
        endpoint_id: &str,
        credential: ControlCredential,
    ) -> AgentConfig {
        AgentConfig {
            controlplane_url: controlplane_url.to_owned(),
            endpoint_id: endpoint_id.to_owned(),
            credential,
            backoff: Backoff::default(),
            options: SessionOptions::default(),
        }
    }
}

/// How long past a pushed grant's init window the endpoint still waits for
/// the client: room for clocks that differ between hosts.
const CLIENT_GRACE: Duration = Duration::from_secs(2);

/// Attaches as the server of a pushed grant's channel and waits for its
/// client, no longer than the grant's init window (plus a little): a client
/// that never comes does not hold the task until the relay gives up.
pub async fn attach(grant: &ChannelInitGrant, options: &SessionOptions) -> Result<Session, Error> {
    let window = grant
        .channel_init_expire_at_unix_s
        .saturating_sub(corridor::clock::unix_now())
        .max(1);
    let wait = Duration::from_secs(u64::try_from(window).unwrap_or(1)) + CLIENT_GRACE;
    tokio::time::timeout(wait, Endpoint::connect_tunnel(grant, options))
        .await
        .map_err(|_| Error::Timeout("the client of a pushed grant"))?
}

/// The WebSocket URL of the control path under a control plane's base URL.
pub fn control_url(base: &str) -> Result<String, AgentError> {
    let invalid = || AgentError::InvalidUrl(base.to_owned());
    let base = base.trim().trim_end_matches('/');
    let (scheme, rest) = base.split_once("://").ok_or_else(invalid)?;
    let ws = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        _ => return Err(invalid()),
    };
    if rest.is_empty() || rest.contains('/') {
        return Err(invalid());
    }
    Ok(format!("{ws}://{rest}{}", protocol::CONTROL_PATH))
}

/// Starts the control session in the background; every grant pushed over
/// it goes to `on_grant`. [`Reconnecting::session`] resolves once the
/// session is up and registered.
pub fn spawn(config: AgentConfig, on_grant: OnGrant) -> Result<Reconnecting, AgentError> {
    let url = control_url(&config.controlplane_url)?;
    let endpoint_id = protocol::endpoint_id(&config.endpoint_id)
        .map_err(AgentError::InvalidEndpointId)?
        .to_owned();
    let credential: ClientCredential = match config.credential {
        ControlCredential::Psk(psk) => DirectCredential {
            psk,
            suite: Suite::X25519HkdfSha256Aes256Gcm,
            channel_id: Some(protocol::CONTROL_CHANNEL_ID.to_owned()),
            init_exp_unix_s: protocol::CONTROL_INIT_EXP,
        }
        .into(),
        ControlCredential::Noise {
            identity,
            controlplane_key,
        } => NoiseCredential::ik(identity, controlplane_key, protocol::CONTROL_CHANNEL_ID).into(),
    };
    let router = Router::new().handle(GRANT, move |push: GrantPush| {
        let taken = on_grant(push.grant);
        async move { taken.map(|()| serde_json::json!({})) }
    });
    let options = config.options.with_router(router);
    let connect = move || {
        let (url, credential, options) = (url.clone(), credential.clone(), options.clone());
        let endpoint_id = endpoint_id.clone();
        async move {
            let session = Client::connect_ws(&url, credential, &options).await?;
            session
                .rpc()
                .call::<_, serde_json::Value>(REGISTER, &Register { endpoint_id })
                .await
                .map_err(|error| Error::Io(std::io::Error::other(format!("register: {error}"))))?;
            Ok(session)
        }
    };
    Ok(Reconnecting::spawn(connect, config.backoff))
}

#[cfg(test)]
mod tests {
    use super::control_url;

    #[test]
    fn control_urls() {
        assert_eq!(
            control_url("http://127.0.0.1:8090/").unwrap(),
            "ws://127.0.0.1:8090/v1/endpoint"
        );
        assert_eq!(
            control_url("https://cp.example").unwrap(),
            "wss://cp.example/v1/endpoint"
        );
        assert!(control_url("ftp://x").is_err());
        assert!(control_url("http://x/prefix").is_err());
        assert!(control_url("127.0.0.1:8090").is_err());
    }
}
