//! Issuer keys: the Ed25519 key a control plane signs tokens with, and the set
//! of public keys a relay verifies them with.
//!
//! Two JSON files carry them:
//! - private: `{"kid":"...","privkey_b64u":"<64 bytes: seed || public key>"}`,
//!   unknown fields refused (a typo must not silently drop a setting);
//! - public: `{"keys":[{"kid":"...","pubkey_b64u":"<32 bytes>"}]}`, as
//!   flowersec v1's tunnel reads it.

use crate::b64;
use crate::token::KeyLookup;
use ed25519_dalek::{SigningKey, VerifyingKey};
use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use zeroize::Zeroizing;

/// Largest key file accepted, in bytes.
pub const MAX_KEY_FILE_BYTES: usize = 1024 * 1024;
/// Most keys a public keys file may hold.
pub const MAX_PUBLIC_KEYS: usize = 1024;
/// Longest key id, in bytes.
pub const MAX_KID_BYTES: usize = 128;

/// Why a key file was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Larger than [`MAX_KEY_FILE_BYTES`].
    #[error("key file is larger than {MAX_KEY_FILE_BYTES} bytes")]
    TooLarge,
    /// Not the expected JSON shape.
    #[error("key file is not valid: {0}")]
    Json(#[from] serde_json::Error),
    /// A key id that is empty, too long, or has surrounding spaces.
    #[error("key id {0:?} is empty, longer than {MAX_KID_BYTES} bytes, or not trimmed")]
    BadKid(String),
    /// The same key id twice.
    #[error("key id {0:?} appears twice")]
    DuplicateKid(String),
    /// A key that does not decode to the right length or point.
    #[error("key {kid:?}: {reason}")]
    BadKey {
        /// The key id of the bad key.
        kid: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No key at all.
    #[error("key file holds no keys")]
    Empty,
    /// More than [`MAX_PUBLIC_KEYS`].
    #[error("key file holds more than {MAX_PUBLIC_KEYS} keys")]
    TooManyKeys,
}

/// An issuer's signing key and its id.
pub struct IssuerKey {
    kid: String,
    signing_key: SigningKey,
}

impl std::fmt::Debug for IssuerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerKey")
            .field("kid", &self.kid)
            .field("signing_key", &"[REDACTED]")
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PrivateKeyFile {
    kid: String,
    privkey_b64u: String,
}

#[derive(Serialize, Deserialize)]
struct PublicKeysFile {
    keys: Vec<PublicKeyEntry>,
}

#[derive(Serialize, Deserialize)]
struct PublicKeyEntry {
    kid: String,
    pubkey_b64u: String,
}

impl IssuerKey {
    /// A fresh key from `rng`.
    pub fn generate(kid: &str, rng: &mut impl CryptoRngCore) -> Result<Self, KeyFileError> {
        check_kid(kid)?;
        Ok(Self {
            kid: kid.to_owned(),
            signing_key: SigningKey::generate(rng),
        })
    }

    /// The key from a private key file's bytes.
    ///
    /// ```
    /// use corridor_core::keys::IssuerKey;
    /// let key = IssuerKey::generate("k1", &mut rand_core::OsRng).unwrap();
    /// let again = IssuerKey::from_private_json(key.to_private_json().as_bytes()).unwrap();
    /// assert_eq!(again.kid(), "k1");
    /// assert_eq!(again.verifying_key(), key.verifying_key());
    /// ```
    pub fn from_private_json(bytes: &[u8]) -> Result<Self, KeyFileError> {
        if bytes.len() > MAX_KEY_FILE_BYTES {
            return Err(KeyFileError::TooLarge);
        }
        let file: PrivateKeyFile = serde_json::from_slice(bytes)?;
        let file_secret = Zeroizing::new(file.privkey_b64u);
        check_kid(&file.kid)?;
        let bad = |reason| KeyFileError::BadKey {
            kid: file.kid.clone(),
            reason,
        };
        let raw = Zeroizing::new(b64::decode(&file_secret).map_err(|_| bad("not base64url"))?);
        let keypair: &[u8; 64] = raw
            .as_slice()
            .try_into()
            .map_err(|_| bad("private key must be 64 bytes (seed and public key)"))?;
        let signing_key = SigningKey::from_keypair_bytes(keypair)
            .map_err(|_| bad("public half does not match the seed"))?;
        Ok(Self {
            kid: file.kid,
            signing_key,
        })
    }

    /// The private key file's JSON. Holds the secret: write it with mode 0600.
    pub fn to_private_json(&self) -> Zeroizing<String> {
        let keypair = Zeroizing::new(self.signing_key.to_keypair_bytes());
        let file = PrivateKeyFile {
            kid: self.kid.clone(),
            privkey_b64u: b64::encode(keypair.as_slice()),
        };
        let text = Zeroizing::new(serde_json::to_string_pretty(&file).unwrap_or_default());
        drop(Zeroizing::new(file.privkey_b64u));
        text
    }

    /// A public keys file naming this key alone.
    pub fn to_public_json(&self) -> String {
        PublicKeys::from_keys([(self.kid.clone(), self.verifying_key())]).to_json()
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing_key
    }

    /// The public half.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing_key.verifying_key()
    }
}

/// The issuer keys a verifier trusts, by key id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PublicKeys {
    keys: HashMap<String, VerifyingKey>,
}

impl PublicKeys {
    /// A set of the given keys.
    pub fn from_keys(keys: impl IntoIterator<Item = (String, VerifyingKey)>) -> Self {
        Self {
            keys: keys.into_iter().collect(),
        }
    }

    /// Parses a public keys file.
    ///
    /// ```
    /// use corridor_core::keys::PublicKeys;
    /// let json = br#"{"keys":[{"kid":"k1","pubkey_b64u":"O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik"}]}"#;
    /// let keys = PublicKeys::from_json(json).unwrap();
    /// assert_eq!(keys.len(), 1);
    /// assert!(PublicKeys::from_json(br#"{"keys":[]}"#).is_err());
    /// ```
    pub fn from_json(bytes: &[u8]) -> Result<Self, KeyFileError> {
        if bytes.len() > MAX_KEY_FILE_BYTES {
            return Err(KeyFileError::TooLarge);
        }
        let file: PublicKeysFile = serde_json::from_slice(bytes)?;
        if file.keys.is_empty() {
            return Err(KeyFileError::Empty);
        }
        if file.keys.len() > MAX_PUBLIC_KEYS {
            return Err(KeyFileError::TooManyKeys);
        }
        let mut keys = HashMap::with_capacity(file.keys.len());
        for entry in file.keys {
            check_kid(&entry.kid)?;
            let bad = |reason| KeyFileError::BadKey {
                kid: entry.kid.clone(),
                reason,
            };
            let raw: [u8; 32] = b64::decode_array(&entry.pubkey_b64u)
                .ok_or_else(|| bad("public key must be 32 bytes of base64url"))?;
            let key = VerifyingKey::from_bytes(&raw)
                .map_err(|_| bad("public key is not a valid Ed25519 point"))?;
            if keys.insert(entry.kid.clone(), key).is_some() {
                return Err(KeyFileError::DuplicateKid(entry.kid));
            }
        }
        Ok(Self { keys })
    }

    /// The file form, keys sorted by id.
    pub fn to_json(&self) -> String {
        let mut keys: Vec<PublicKeyEntry> = self
            .keys
            .iter()
            .map(|(kid, key)| PublicKeyEntry {
                kid: kid.clone(),
                pubkey_b64u: b64::encode(key.as_bytes()),
            })
            .collect();
        keys.sort_by(|a, b| a.kid.cmp(&b.kid));
        serde_json::to_string_pretty(&PublicKeysFile { keys }).unwrap_or_default()
    }

    /// How many keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl KeyLookup for PublicKeys {
    fn lookup(&self, kid: &str) -> Option<VerifyingKey> {
        self.keys.get(kid).copied()
    }
}

fn check_kid(kid: &str) -> Result<(), KeyFileError> {
    if kid.is_empty() || kid.len() > MAX_KID_BYTES || kid.trim() != kid {
        return Err(KeyFileError::BadKid(kid.to_owned()));
    }
    Ok(())
}
