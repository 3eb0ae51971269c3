//! Who may connect: the hello each side sends inside the Noise handshake
//! (protocol version, name, role), and the allowlist. A refusal travels
//! back to the initiator inside the handshake, authenticated, so it can
//! read why ("incompatible version", "not on the allowlist").

use crate::identity::peer_id;
use crate::message::Role;
use corridor::ConnectionInfo;
use corridor::credential::Authorizer;
use corridor_core::identity::PublicKey;
use corridor_core::suite::{Claim, Verdict};
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// The protocol version this node speaks.
pub const PROTOCOL_VERSION: &str = "1.0";
/// Versions it accepts from peers.
pub const SUPPORTED_VERSIONS: &[&str] = &["1.0"];

/// What each side says of itself in the handshake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The mesh protocol version.
    pub version: String,
    /// The display name.
    pub name: String,
    /// The role.
    pub role: Role,
}

impl Hello {
    /// This node's hello.
    pub fn new(name: &str, role: Role) -> Hello {
        Hello {
            version: PROTOCOL_VERSION.into(),
            name: name.into(),
            role,
        }
    }

    /// The bytes that travel.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// A peer's hello from what it sent.
    pub fn decode(bytes: &[u8]) -> Option<Hello> {
        serde_json::from_slice(bytes).ok()
    }
}

/// Which peers may connect: anyone (`open`) or only the listed keys
/// (`allowlist`); switchable while running.
#[derive(Default)]
pub struct Access {
    allowlist_mode: AtomicBool,
    allowed: RwLock<HashSet<PublicKey>>,
    /// Roles the operator gave: they override what a peer says of itself.
    roles: RwLock<HashMap<PublicKey, Role>>,
}

impl Access {
    /// Switches between allowlist mode and open mode.
    pub fn set_allowlist_mode(&self, on: bool) {
        self.allowlist_mode.store(on, Ordering::Relaxed);
    }

    /// Whether only listed keys may connect.
    pub fn allowlist_mode(&self) -> bool {
        self.allowlist_mode.load(Ordering::Relaxed)
    }

    /// Lists `key`.
    pub fn allow(&self, key: PublicKey) {
        self.allowed
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key);
    }

    /// Unlists `key`.
    pub fn revoke(&self, key: &PublicKey) {
        self.allowed
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        self.assign_role(key, None);
    }

    /// Gives `key` the role `role` whatever its hello says (`None`: the
    /// peer's own word stands). A worker that calls itself a controller
    /// then still cannot give orders.
    pub fn assign_role(&self, key: &PublicKey, role: Option<Role>) {
        let mut roles = self.roles.write().unwrap_or_else(|p| p.into_inner());
        match role {
            Some(role) => roles.insert(*key, role),
            None => roles.remove(key),
        };
    }

    /// The role the operator gave `key`, if any.
    pub fn assigned_role(&self, key: &PublicKey) -> Option<Role> {
        self.roles
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .copied()
    }

    /// Whether `key` may connect now.
    pub fn admits(&self, key: &PublicKey) -> bool {
        !self.allowlist_mode()
            || self
                .allowed
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .contains(key)
    }
}

/// Judges a peer's claim: as the responder, its version, then access, and
/// answers with this node's own hello; as the initiator (which judges the
/// responder's key before the responder's hello arrives), access only:
/// the hello is checked when the session is up.
pub(crate) struct MeshAuthorizer {
    pub(crate) access: Arc<Access>,
    pub(crate) hello: Hello,
    pub(crate) responder: bool,
}

/// Whether a peer's hello speaks a version this node accepts.
pub(crate) fn version_refusal(hello: &Hello) -> Option<String> {
    (!SUPPORTED_VERSIONS.contains(&hello.version.as_str())).then(|| {
        format!(
            "incompatible version {:?}: this node speaks {PROTOCOL_VERSION}",
            hello.version
        )
    })
}

impl MeshAuthorizer {
    fn verdict(&self, claim: &Claim) -> Verdict {
        let Some(key) = claim.identity.static_key() else {
            return refuse("a static key is required");
        };
        if !self.responder {
            if !self.access.admits(key) {
                return refuse("not on the allowlist");
            }
            return Verdict::accept();
        }
        let Some(hello) = Hello::decode(&claim.payload) else {
            return refuse("incompatible version: no mesh hello");
        };
        if let Some(refusal) = version_refusal(&hello) {
            return refuse(&refusal);
        }
        if !self.access.admits(key) {
            tracing::info!(peer = %peer_id(key), name = %hello.name, "refused: not on the allowlist");
            return refuse("not on the allowlist");
        }
        Verdict::Accept {
            payload: self.hello.encode(),
        }
    }
}

fn refuse(reason: &str) -> Verdict {
    Verdict::Refuse {
        reason: reason.to_owned(),
    }
}

impl Authorizer for MeshAuthorizer {
    fn authorize<'a>(&'a self, claim: &'a Claim, _: &'a ConnectionInfo) -> BoxFuture<'a, Verdict> {
        Box::pin(std::future::ready(self.verdict(claim)))
    }
}
