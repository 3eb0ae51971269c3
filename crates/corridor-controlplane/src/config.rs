//! What a control plane runs with, and the credential its control sessions
//! accept.

use crate::{EndpointKeys, RateLimit, protocol};
use corridor::credential::{AcceptAll, Authorizer};
use corridor::listener::ListenerConfig;
use corridor::{DirectCredential, EndpointCredential};
use corridor_core::fsec1::Suite;
use corridor_core::grant::GrantParams;
use corridor_core::identity::StaticSecret;
use corridor_core::keys::IssuerKey;
use corridor_core::noise::ResponderConfig;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
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

/// Every suite control sessions may use: Noise first (it proves which
/// endpoint this is), then the PSK.
pub(crate) fn control_credential(config: &ControlPlaneConfig) -> EndpointCredential {
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
            (Some(responder), Arc::new(noise.endpoint_keys.allowlist()))
        }
        None => (None, Arc::new(AcceptAll)),
    };
    EndpointCredential {
        fsec1,
        noise,
        authorizer,
    }
}
