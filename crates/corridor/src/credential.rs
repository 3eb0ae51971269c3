//! What each side brings to the handshake, per suite, and how an application
//! judges the peer a handshake proved.
//!
//! A client brings one [`ClientCredential`]: the channel PSK (fsec1) or its
//! static key and what it knows of the endpoint's (noise). An endpoint
//! brings an [`EndpointCredential`] with every suite it accepts, and an
//! [`Authorizer`] that sees each Noise peer's key and handshake payload
//! before the session starts.

use crate::peer::{Attachment, ConnectionInfo};
use corridor_core::fsec1::Suite;
use corridor_core::identity::{PublicKey, StaticSecret};
use corridor_core::noise::{Cipher, InitiatorConfig, Pattern, Protocol, ResponderConfig};
use corridor_core::suite::{Claim, SuiteName, Verdict};
use futures_util::future::BoxFuture;
use std::collections::HashSet;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Judges a peer once its handshake has proven who it is: an allowlist, a
/// registry lookup, an enrollment token check. Runs before the session
/// starts; a refusal reaches the peer with its reason where the suite can
/// carry it.
pub trait Authorizer: Send + Sync {
    /// The verdict on `claim`, seen on `connection`.
    fn authorize<'a>(
        &'a self,
        claim: &'a Claim,
        connection: &'a ConnectionInfo,
    ) -> BoxFuture<'a, Verdict>;

    /// The verdict, and what the judge learned about the peer (an account, a
    /// role) for the session to carry as [`Peer::attachment`](crate::Peer::attachment),
    /// so handlers need not look it up again. The default attaches nothing.
    fn admit<'a>(
        &'a self,
        claim: &'a Claim,
        connection: &'a ConnectionInfo,
    ) -> BoxFuture<'a, Admission> {
        Box::pin(async move {
            Admission {
                verdict: self.authorize(claim, connection).await,
                attachment: None,
            }
        })
    }
}

/// An [`Authorizer`]'s full answer: the verdict and, on acceptance, what to
/// attach to the session's peer.
#[derive(Clone, Debug)]
pub struct Admission {
    /// Accept or refuse.
    pub verdict: Verdict,
    /// Carried by the session's [`Peer`](crate::Peer) when accepted.
    pub attachment: Option<Attachment>,
}

/// Accepts every peer the handshake authenticated (the application can still
/// look at [`Session::peer`](crate::Session::peer)).
#[derive(Clone, Copy, Debug, Default)]
pub struct AcceptAll;

impl Authorizer for AcceptAll {
    fn authorize<'a>(&'a self, _: &'a Claim, _: &'a ConnectionInfo) -> BoxFuture<'a, Verdict> {
        Box::pin(std::future::ready(Verdict::accept()))
    }
}

/// Refuses every peer with `reason`, which the peer reads where the suite
/// can carry it (noise does): for a connection already judged by other
/// means, such as a local IPC policy on the peer's uid or executable.
///
/// ```
/// use corridor::credential::{Authorizer, RefuseAll};
/// let judge = RefuseAll("uid 1000 is not allowed".into());
/// # let _ = &judge as &dyn Authorizer;
/// ```
#[derive(Clone, Debug)]
pub struct RefuseAll(pub String);

impl Authorizer for RefuseAll {
    fn authorize<'a>(&'a self, _: &'a Claim, _: &'a ConnectionInfo) -> BoxFuture<'a, Verdict> {
        Box::pin(std::future::ready(Verdict::Refuse {
            reason: self.0.clone(),
        }))
    }
}

/// Accepts only peers whose static key is in the set.
///
/// ```
/// use corridor::credential::{Allowlist, Authorizer};
/// use corridor::ConnectionInfo;
/// use corridor::core::identity::StaticSecret;
/// use corridor::core::suite::{Claim, PeerIdentity, Verdict};
/// let friend = StaticSecret::generate(&mut rand_core::OsRng).public_key();
/// let list = Allowlist::new([friend]);
/// let claim = Claim { identity: PeerIdentity::StaticKey(friend), payload: vec![] };
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// assert_eq!(list.authorize(&claim, &ConnectionInfo::default()).await, Verdict::accept());
/// # });
/// ```
#[derive(Clone, Debug, Default)]
pub struct Allowlist {
    keys: HashSet<PublicKey>,
}

impl Allowlist {
    /// An allowlist of `keys`.
    pub fn new(keys: impl IntoIterator<Item = PublicKey>) -> Allowlist {
        Allowlist {
            keys: keys.into_iter().collect(),
        }
    }
}

impl Authorizer for Allowlist {
    fn authorize<'a>(&'a self, claim: &'a Claim, _: &'a ConnectionInfo) -> BoxFuture<'a, Verdict> {
        let allowed = claim
            .identity
            .static_key()
            .is_some_and(|key| self.keys.contains(key));
        let verdict = if allowed {
            Verdict::accept()
        } else {
            Verdict::Refuse {
                reason: "not on the allowlist".into(),
            }
        };
        Box::pin(std::future::ready(verdict))
    }
}

/// What an fsec1 endpoint checks a client's handshake against (and what an
/// fsec1 client brings: the same PSK, suite and channel).
#[derive(Clone)]
pub struct DirectCredential {
    /// The 32-byte PSK the client was given.
    pub psk: Zeroizing<[u8; 32]>,
    /// The suite accepted.
    pub suite: Suite,
    /// The channel id the client must name; `None` accepts any.
    pub channel_id: Option<String>,
    /// Unix time after which handshakes are refused.
    pub init_exp_unix_s: i64,
}

impl std::fmt::Debug for DirectCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectCredential")
            .field("suite", &self.suite)
            .field("channel_id", &self.channel_id)
            .field("init_exp_unix_s", &self.init_exp_unix_s)
            .finish_non_exhaustive()
    }
}

/// A client's Noise credential: its key, and what it knows of the endpoint's.
#[derive(Clone)]
pub struct NoiseCredential {
    /// XX when the client does not know the endpoint's key (or must not
    /// reveal its own first), IK when it does, KK when both know both.
    pub pattern: Pattern,
    /// The client's static key.
    pub identity: StaticSecret,
    /// The endpoint's key: required for IK and KK; for XX a pin.
    pub server_key: Option<PublicKey>,
    /// The AEAD (AES-256-GCM by default).
    pub cipher: Cipher,
    /// A PSK both sides know, mixed into the handshake.
    pub psk: Option<Zeroizing<[u8; 32]>>,
    /// The channel or service to reach.
    pub channel_id: String,
    /// Application bytes for the endpoint (an enrollment token, metadata).
    pub payload: Vec<u8>,
    /// Judges the endpoint's key in XX when none is pinned; the default
    /// accepts it (look at [`Session::peer`](crate::Session::peer)).
    pub authorizer: Arc<dyn Authorizer>,
}

impl std::fmt::Debug for NoiseCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoiseCredential")
            .field("pattern", &self.pattern)
            .field("identity", &self.identity.public_key())
            .field("server_key", &self.server_key)
            .field("cipher", &self.cipher)
            .field("channel_id", &self.channel_id)
            .finish_non_exhaustive()
    }
}

impl NoiseCredential {
    /// XX: both keys travel in the handshake.
    pub fn xx(identity: StaticSecret, channel_id: impl Into<String>) -> NoiseCredential {
        NoiseCredential {
            pattern: Pattern::XX,
            identity,
            server_key: None,
            cipher: Cipher::AesGcm,
            psk: None,
            channel_id: channel_id.into(),
            payload: Vec::new(),
            authorizer: Arc::new(AcceptAll),
        }
    }

    /// IK: the client knows the endpoint's key.
    pub fn ik(
        identity: StaticSecret,
        server_key: PublicKey,
        channel_id: impl Into<String>,
    ) -> NoiseCredential {
        NoiseCredential {
            pattern: Pattern::IK,
            server_key: Some(server_key),
            ..NoiseCredential::xx(identity, channel_id)
        }
    }

    /// KK: the client knows the endpoint's key and the endpoint knows the client's.
    pub fn kk(
        identity: StaticSecret,
        server_key: PublicKey,
        channel_id: impl Into<String>,
    ) -> NoiseCredential {
        NoiseCredential {
            pattern: Pattern::KK,
            ..NoiseCredential::ik(identity, server_key, channel_id)
        }
    }

    pub(crate) fn initiator_config(&self, features: u32) -> InitiatorConfig {
        let protocol = Protocol {
            pattern: self.pattern,
            cipher: self.cipher,
            psk: self.psk.is_some(),
        };
        let mut config =
            InitiatorConfig::new(protocol, self.identity.clone(), self.channel_id.clone());
        config.remote = self.server_key;
        config.psk = self.psk.clone();
        config.payload = self.payload.clone();
        config.features = features;
        config
    }
}

/// How a client authenticates.
#[derive(Clone, Debug)]
pub enum ClientCredential {
    /// fsec1: the channel's PSK (its `channel_id` is required).
    Fsec1(DirectCredential),
    /// noise: static keys.
    Noise(NoiseCredential),
}

impl ClientCredential {
    /// The suite this credential runs.
    pub fn suite(&self) -> SuiteName {
        match self {
            ClientCredential::Fsec1(_) => SuiteName::Fsec1,
            ClientCredential::Noise(_) => SuiteName::Noise,
        }
    }
}

impl From<DirectCredential> for ClientCredential {
    fn from(credential: DirectCredential) -> Self {
        ClientCredential::Fsec1(credential)
    }
}

impl From<&DirectCredential> for ClientCredential {
    fn from(credential: &DirectCredential) -> Self {
        ClientCredential::Fsec1(credential.clone())
    }
}

impl From<NoiseCredential> for ClientCredential {
    fn from(credential: NoiseCredential) -> Self {
        ClientCredential::Noise(credential)
    }
}

impl From<&NoiseCredential> for ClientCredential {
    fn from(credential: &NoiseCredential) -> Self {
        ClientCredential::Noise(credential.clone())
    }
}

impl From<&ClientCredential> for ClientCredential {
    fn from(credential: &ClientCredential) -> Self {
        credential.clone()
    }
}

/// Every suite an endpoint accepts, and how it judges Noise peers.
#[derive(Clone)]
pub struct EndpointCredential {
    /// fsec1 clients: the PSK they must hold.
    pub fsec1: Option<DirectCredential>,
    /// noise clients: this endpoint's key and the patterns and ciphers accepted.
    pub noise: Option<ResponderConfig>,
    /// Judges each Noise client's key and payload.
    pub authorizer: Arc<dyn Authorizer>,
}

impl std::fmt::Debug for EndpointCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointCredential")
            .field("fsec1", &self.fsec1)
            .field("noise", &self.noise.as_ref().map(|n| n.local.public_key()))
            .finish_non_exhaustive()
    }
}

impl EndpointCredential {
    /// An endpoint accepting fsec1 clients of `credential`.
    pub fn fsec1(credential: DirectCredential) -> EndpointCredential {
        EndpointCredential {
            fsec1: Some(credential),
            noise: None,
            authorizer: Arc::new(AcceptAll),
        }
    }

    /// An endpoint accepting Noise clients, judged by `authorizer`.
    pub fn noise(config: ResponderConfig, authorizer: Arc<dyn Authorizer>) -> EndpointCredential {
        EndpointCredential {
            fsec1: None,
            noise: Some(config),
            authorizer,
        }
    }

    /// The suites accepted, noise first (it authenticates both sides).
    pub fn suites(&self) -> Vec<SuiteName> {
        let mut suites = Vec::new();
        if self.noise.is_some() {
            suites.push(SuiteName::Noise);
        }
        if self.fsec1.is_some() {
            suites.push(SuiteName::Fsec1);
        }
        suites
    }
}

impl From<DirectCredential> for EndpointCredential {
    fn from(credential: DirectCredential) -> Self {
        EndpointCredential::fsec1(credential)
    }
}

impl From<&DirectCredential> for EndpointCredential {
    fn from(credential: &DirectCredential) -> Self {
        EndpointCredential::fsec1(credential.clone())
    }
}

impl From<&EndpointCredential> for EndpointCredential {
    fn from(credential: &EndpointCredential) -> Self {
        credential.clone()
    }
}
