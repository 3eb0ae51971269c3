//! A node's identity: its X25519 key (kept in a 0600 file, made on first
//! start), its display name and role. Its peer id is the key's
//! fingerprint, which the Noise handshake proves: no node can claim
//! another's id.

use crate::MeshError;
use crate::message::Role;
use corridor::keystore::{FileKeyStore, KeyStore as _};
use corridor_core::identity::{PublicKey, StaticSecret};
use std::path::Path;

/// A peer id: the fingerprint of a node's public key.
pub fn peer_id(key: &PublicKey) -> String {
    key.fingerprint()
}

/// Who this node is.
#[derive(Clone)]
pub struct NodeIdentity {
    secret: StaticSecret,
    /// Derived once: deriving it is an X25519 multiplication, and every
    /// message sent names its sender.
    public: PublicKey,
    id: String,
    /// Its display name (not authenticated beyond the key that sends it).
    pub name: String,
    /// Its role.
    pub role: Role,
}

impl std::fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeIdentity")
            .field("peer_id", &self.peer_id())
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl NodeIdentity {
    /// A fresh identity (for tests and throwaway nodes).
    pub fn generate(name: impl Into<String>, role: Role) -> NodeIdentity {
        NodeIdentity::new(StaticSecret::generate(&mut rand_core::OsRng), name, role)
    }

    fn new(secret: StaticSecret, name: impl Into<String>, role: Role) -> NodeIdentity {
        let public = secret.public_key();
        NodeIdentity {
            secret,
            public,
            id: peer_id(&public),
            name: name.into(),
            role,
        }
    }

    /// The identity in `key_file`, made (0600, atomically) on first use.
    pub fn load_or_create(
        key_file: &Path,
        name: impl Into<String>,
        role: Role,
    ) -> Result<NodeIdentity, MeshError> {
        let (secret, _) = FileKeyStore::new(key_file)
            .load_or_create()
            .map_err(|error| MeshError::Identity(error.to_string()))?;
        Ok(NodeIdentity::new(secret, name, role))
    }

    /// Its static key.
    pub fn secret(&self) -> &StaticSecret {
        &self.secret
    }

    /// Its public key.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// Its peer id.
    pub fn peer_id(&self) -> &str {
        &self.id
    }
}
