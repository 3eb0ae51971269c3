//! The E2EE suites of fsec1, by wire number.

use serde::{Deserialize, Serialize};

/// An E2EE cipher suite. Both use HKDF-SHA256 and AES-256-GCM; they differ in
/// the ephemeral key exchange.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash)]
pub enum Suite {
    /// X25519 + HKDF-SHA256 + AES-256-GCM (wire number 1).
    X25519HkdfSha256Aes256Gcm,
    /// P-256 + HKDF-SHA256 + AES-256-GCM (wire number 2).
    P256HkdfSha256Aes256Gcm,
}

impl Suite {
    /// The wire number.
    pub const fn as_u16(self) -> u16 {
        match self {
            Suite::X25519HkdfSha256Aes256Gcm => 1,
            Suite::P256HkdfSha256Aes256Gcm => 2,
        }
    }

    /// The suite for a wire number.
    pub const fn from_u16(value: u16) -> Option<Suite> {
        match value {
            1 => Some(Suite::X25519HkdfSha256Aes256Gcm),
            2 => Some(Suite::P256HkdfSha256Aes256Gcm),
            _ => None,
        }
    }

    /// A short name for logs and flags: `x25519` or `p256`.
    pub const fn name(self) -> &'static str {
        match self {
            Suite::X25519HkdfSha256Aes256Gcm => "x25519",
            Suite::P256HkdfSha256Aes256Gcm => "p256",
        }
    }
}

impl std::str::FromStr for Suite {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "x25519" | "1" => Ok(Suite::X25519HkdfSha256Aes256Gcm),
            "p256" | "2" => Ok(Suite::P256HkdfSha256Aes256Gcm),
            other => Err(format!("unknown suite {other:?} (expected x25519 or p256)")),
        }
    }
}

impl Serialize for Suite {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u16(self.as_u16())
    }
}

impl<'de> Deserialize<'de> for Suite {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = u16::deserialize(deserializer)?;
        Suite::from_u16(value)
            .ok_or_else(|| serde::de::Error::custom(format_args!("unknown suite {value}")))
    }
}
