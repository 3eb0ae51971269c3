//! Node identities: X25519 static keys, their public halves, a short
//! fingerprint to show and to allowlist, and the identity file's format.
//!
//! The private key is zeroized when dropped and never printed. Writing the
//! file (mode 0600, atomically) is the caller's job: this crate does no I/O.

use crate::b64;
use ring::digest;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// An X25519 static private key.
pub struct StaticSecret(Zeroizing<[u8; 32]>);

impl StaticSecret {
    /// A fresh random key.
    pub fn generate(rng: &mut impl rand_core::CryptoRngCore) -> StaticSecret {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(bytes.as_mut());
        StaticSecret(bytes)
    }

    /// The key from its 32 bytes (clamping happens in the exchange).
    pub fn from_bytes(bytes: [u8; 32]) -> StaticSecret {
        StaticSecret(Zeroizing::new(bytes))
    }

    /// The private bytes, for the handshake that proves possession.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(crate::x25519::public_key(&self.0))
    }
}

impl Clone for StaticSecret {
    fn clone(&self) -> Self {
        StaticSecret(Zeroizing::new(*self.0))
    }
}

impl std::fmt::Debug for StaticSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("StaticSecret")
            .field(&self.public_key().fingerprint())
            .finish()
    }
}

/// An X25519 public key: a node's identity once a handshake proved it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// The key from its 32 bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> PublicKey {
        PublicKey(bytes)
    }

    /// The 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The short stable name of this key: base64url of the first 16 bytes of
    /// its SHA-256 (22 characters). Unique among keys in practice (128 bits),
    /// so allowlists may use it; logs and prompts show it.
    ///
    /// ```
    /// use corridor_core::identity::StaticSecret;
    /// let key = StaticSecret::from_bytes([7; 32]).public_key();
    /// assert_eq!(key.fingerprint().len(), 22);
    /// assert_eq!(key.fingerprint(), key.fingerprint());
    /// ```
    pub fn fingerprint(&self) -> String {
        let hash = digest::digest(&digest::SHA256, &self.0);
        b64::encode(&hash.as_ref()[..16])
    }

    /// The key as base64url (43 characters), the form configuration files hold.
    pub fn to_b64u(&self) -> String {
        b64::encode(self.0)
    }

    /// Parses the base64url form.
    pub fn from_b64u(text: &str) -> Option<PublicKey> {
        b64::decode_array::<32>(text.trim()).map(PublicKey)
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.fingerprint())
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_b64u())
    }
}

impl std::str::FromStr for PublicKey {
    type Err = IdentityError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        PublicKey::from_b64u(text).ok_or(IdentityError::InvalidKey)
    }
}

impl Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_b64u())
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        PublicKey::from_b64u(&text)
            .ok_or_else(|| serde::de::Error::custom("not 32 bytes of base64url"))
    }
}

/// Why an identity file or key did not load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// Not the identity file's JSON.
    #[error("identity file: {0}")]
    Format(String),
    /// The file names a kind of key other than `x25519`.
    #[error("identity file holds a {0:?} key, not x25519")]
    WrongKind(String),
    /// A key is not 32 bytes of base64url.
    #[error("key is not 32 bytes of base64url")]
    InvalidKey,
    /// The public key in the file is not the private key's.
    #[error("the file's public key does not match its private key")]
    Mismatch,
}

/// The identity file: `{"kind":"x25519","private_b64u":..,"public_b64u":..,"fingerprint":..}`.
/// The public key and fingerprint are there for people and scripts; loading
/// checks them against the private key.
#[derive(Serialize, Deserialize)]
struct IdentityFile {
    kind: String,
    private_b64u: Zeroizing<String>,
    public_b64u: String,
    fingerprint: String,
}

impl StaticSecret {
    /// The identity file's bytes for this key (secret: write them 0600).
    ///
    /// ```
    /// use corridor_core::identity::StaticSecret;
    /// let key = StaticSecret::generate(&mut rand_core::OsRng);
    /// let file = key.to_file_json();
    /// let again = StaticSecret::from_file_json(&file).unwrap();
    /// assert_eq!(again.public_key(), key.public_key());
    /// ```
    pub fn to_file_json(&self) -> Zeroizing<Vec<u8>> {
        let public = self.public_key();
        let file = IdentityFile {
            kind: "x25519".into(),
            private_b64u: Zeroizing::new(b64::encode(self.0.as_ref())),
            public_b64u: public.to_b64u(),
            fingerprint: public.fingerprint(),
        };
        // Serialising these fields cannot fail.
        let mut text = Zeroizing::new(serde_json::to_vec_pretty(&file).unwrap_or_default());
        text.push(b'\n');
        text
    }

    /// Loads an identity file, checking its public key against the private one.
    pub fn from_file_json(bytes: &[u8]) -> Result<StaticSecret, IdentityError> {
        let file: IdentityFile = serde_json::from_slice(bytes)
            .map_err(|error| IdentityError::Format(error.to_string()))?;
        if file.kind != "x25519" {
            return Err(IdentityError::WrongKind(file.kind));
        }
        let private = Zeroizing::new(
            b64::decode_array::<32>(&file.private_b64u).ok_or(IdentityError::InvalidKey)?,
        );
        let secret = StaticSecret::from_bytes(*private);
        let stated = PublicKey::from_b64u(&file.public_b64u).ok_or(IdentityError::InvalidKey)?;
        if stated != secret.public_key() {
            return Err(IdentityError::Mismatch);
        }
        Ok(secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_whose_public_key_was_edited_is_refused() {
        let key = StaticSecret::generate(&mut rand_core::OsRng);
        let other = StaticSecret::generate(&mut rand_core::OsRng).public_key();
        let mut file: serde_json::Value =
            serde_json::from_slice(&key.to_file_json()).expect("json");
        file["public_b64u"] = other.to_b64u().into();
        let bytes = serde_json::to_vec(&file).expect("json");
        assert_eq!(
            StaticSecret::from_file_json(&bytes).err(),
            Some(IdentityError::Mismatch)
        );
    }

    #[test]
    fn the_public_key_is_x25519_of_the_private_one() {
        // RFC 7748 section 6.1, Alice's key pair.
        let private = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        let public = hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
        let key = StaticSecret::from_bytes(private.try_into().expect("32 bytes"));
        assert_eq!(key.public_key().as_bytes().as_slice(), public.as_slice());
    }

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
            .collect()
    }
}
