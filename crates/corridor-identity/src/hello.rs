//! What client and server say inside the Noise handshake, encrypted and
//! bounded by the handshake's payload limit: the client's enrollment (or
//! nothing, for a key login), and the server's welcome naming the account.

use serde::{Deserialize, Serialize};

/// The client's payload. Empty bytes mean a key login.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientHello {
    /// Present to enroll this handshake's key with a one-time token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enroll: Option<Enroll>,
}

/// An enrollment: the user, the one-time token, the device's name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enroll {
    /// The user the token was issued for.
    pub user: String,
    /// The token (`ce1.…`).
    pub token: String,
    /// What to call this device; the token's label when empty.
    #[serde(default)]
    pub label: String,
}

impl ClientHello {
    /// The bytes to put in the handshake (empty for a login).
    pub fn encode(&self) -> Vec<u8> {
        if self.enroll.is_none() {
            return Vec::new();
        }
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a payload; `None` when it is not a hello.
    pub fn decode(payload: &[u8]) -> Option<ClientHello> {
        if payload.is_empty() {
            return Some(ClientHello::default());
        }
        serde_json::from_slice(payload).ok()
    }
}

/// The server's answer on acceptance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// The account's user.
    pub user: String,
    /// The user's groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The fingerprint of the key the session proved.
    pub fingerprint: String,
    /// Whether this handshake enrolled the key.
    #[serde(default)]
    pub enrolled: bool,
}
