//! The ephemeral key exchange of each suite: X25519 ([`crate::x25519`]) or
//! P-256 (the `p256` crate, uncompressed SEC1 points on the wire). `ring` has
//! both curves but cannot build a key from given bytes, which the
//! known-answer tests need, and its X25519 keys cannot be held across a
//! retried init.

use super::{Fsec1Error, Suite};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

/// A private ephemeral key; zeroized on drop by its crate.
pub enum EphemeralSecret {
    /// An X25519 key.
    X25519(crate::x25519::Secret),
    /// A P-256 scalar.
    P256(p256::SecretKey),
}

impl std::fmt::Debug for EphemeralSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EphemeralSecret([REDACTED])")
    }
}

impl EphemeralSecret {
    /// A fresh key for `suite`.
    pub fn generate(suite: Suite, rng: &mut impl CryptoRngCore) -> EphemeralSecret {
        match suite {
            Suite::X25519HkdfSha256Aes256Gcm => {
                let mut bytes = Zeroizing::new([0u8; 32]);
                rng.fill_bytes(bytes.as_mut());
                EphemeralSecret::X25519(crate::x25519::Secret::from_bytes(&bytes))
            }
            Suite::P256HkdfSha256Aes256Gcm => EphemeralSecret::P256(p256::SecretKey::random(rng)),
        }
    }

    /// A key from its 32 scalar bytes (known-answer tests).
    pub fn from_bytes(suite: Suite, bytes: [u8; 32]) -> Result<EphemeralSecret, Fsec1Error> {
        match suite {
            Suite::X25519HkdfSha256Aes256Gcm => Ok(EphemeralSecret::X25519(
                crate::x25519::Secret::from_bytes(&bytes),
            )),
            Suite::P256HkdfSha256Aes256Gcm => p256::SecretKey::from_slice(&bytes)
                .map(EphemeralSecret::P256)
                .map_err(|_| Fsec1Error::InvalidKey),
        }
    }

    /// The public key as it goes on the wire: 32 bytes for X25519, a 65-byte
    /// uncompressed point for P-256.
    pub fn public_bytes(&self) -> Vec<u8> {
        match self {
            EphemeralSecret::X25519(secret) => secret.public_key().to_vec(),
            EphemeralSecret::P256(secret) => secret
                .public_key()
                .to_encoded_point(false)
                .as_bytes()
                .to_vec(),
        }
    }

    /// The shared secret with the peer's public key. A malformed key is
    /// [`Fsec1Error::InvalidKey`]; an X25519 key of low order (an all-zero
    /// result) is [`Fsec1Error::LowOrderKey`].
    pub fn agree(&self, peer_public: &[u8]) -> Result<Zeroizing<[u8; 32]>, Fsec1Error> {
        match self {
            EphemeralSecret::X25519(secret) => {
                let peer: [u8; 32] = peer_public.try_into().map_err(|_| Fsec1Error::InvalidKey)?;
                secret.agree(&peer).ok_or(Fsec1Error::LowOrderKey)
            }
            EphemeralSecret::P256(secret) => {
                let peer = parse_p256(peer_public)?;
                let shared =
                    p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), peer.as_affine());
                let mut out = Zeroizing::new([0u8; 32]);
                out.copy_from_slice(shared.raw_secret_bytes());
                Ok(out)
            }
        }
    }
}

/// Checks that `bytes` is a well-formed public key for `suite`.
pub fn check_public(suite: Suite, bytes: &[u8]) -> Result<(), Fsec1Error> {
    match suite {
        Suite::X25519HkdfSha256Aes256Gcm if bytes.len() == 32 => Ok(()),
        Suite::X25519HkdfSha256Aes256Gcm => Err(Fsec1Error::InvalidKey),
        Suite::P256HkdfSha256Aes256Gcm => parse_p256(bytes).map(|_| ()),
    }
}

fn parse_p256(bytes: &[u8]) -> Result<p256::PublicKey, Fsec1Error> {
    // The identity point and points off the curve are refused here.
    p256::PublicKey::from_sec1_bytes(bytes).map_err(|_| Fsec1Error::InvalidKey)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_of_each_suite_agree() {
        for suite in [
            Suite::X25519HkdfSha256Aes256Gcm,
            Suite::P256HkdfSha256Aes256Gcm,
        ] {
            let a = EphemeralSecret::generate(suite, &mut rand_core::OsRng);
            let b = EphemeralSecret::generate(suite, &mut rand_core::OsRng);
            let ab = a.agree(&b.public_bytes()).unwrap();
            let ba = b.agree(&a.public_bytes()).unwrap();
            assert_eq!(*ab, *ba, "{suite:?}");
            assert_ne!(*ab, [0u8; 32]);
        }
    }

    #[test]
    fn low_order_and_malformed_keys_are_refused() {
        let secret =
            EphemeralSecret::generate(Suite::X25519HkdfSha256Aes256Gcm, &mut rand_core::OsRng);
        assert_eq!(
            secret.agree(&[0u8; 32]).unwrap_err(),
            Fsec1Error::LowOrderKey
        );
        // A nonzero point of order 8 (the one flowersec's own test uses).
        let low = crate::b64::decode("4Ot6fDtBuK4WVuP68Z_EatoJjeucMrH9hmIFFl9JuAA").unwrap();
        assert_eq!(secret.agree(&low).unwrap_err(), Fsec1Error::LowOrderKey);
        assert_eq!(
            secret.agree(&[1u8; 31]).unwrap_err(),
            Fsec1Error::InvalidKey
        );

        let p256 = EphemeralSecret::generate(Suite::P256HkdfSha256Aes256Gcm, &mut rand_core::OsRng);
        let mut off_curve = p256.public_bytes();
        off_curve[64] ^= 1;
        assert_eq!(p256.agree(&off_curve).unwrap_err(), Fsec1Error::InvalidKey);
        assert_eq!(p256.agree(&[0u8; 1]).unwrap_err(), Fsec1Error::InvalidKey);
    }
}
