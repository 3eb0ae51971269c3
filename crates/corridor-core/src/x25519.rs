//! X25519 for every suite and identity, through aws-lc-rs.
//!
//! aws-lc's ladder is assembly on x86-64 and arm64: on this project's 2-core
//! machine a key agreement takes 20 µs and a public key 6 µs, against 48 and
//! 14 µs with x25519-dalek's serial field arithmetic
//! (`cargo bench -p corridor-core --bench handshake`). A Noise IK handshake
//! does eight agreements and four public keys between its two sides, so this
//! is most of a connection's setup. ring, the crate's other crypto
//! dependency, cannot serve here: its X25519 keys are single-use ephemeral
//! ones that cannot be built from stored bytes.

use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey};
use zeroize::Zeroizing;

/// A private key ready for agreements, its public half computed once
/// (aws-lc frees and wipes it on drop).
pub struct Secret {
    /// `None` only if aws-lc refused 32 bytes, which it never does for
    /// X25519: every such string is a key (clamped as RFC 7748 says).
    key: Option<PrivateKey>,
    public: [u8; 32],
}

impl Secret {
    /// The key whose 32 private bytes are `bytes`.
    pub fn from_bytes(bytes: &[u8; 32]) -> Secret {
        let key = PrivateKey::from_private_key(&agreement::X25519, bytes).ok();
        let mut public = [0u8; 32];
        if let Some(computed) = key.as_ref().and_then(|key| key.compute_public_key().ok()) {
            public.copy_from_slice(computed.as_ref());
        }
        Secret { key, public }
    }

    /// The public half.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public
    }

    /// The shared secret with the peer's `public` key; `None` when `public`
    /// has low order (the result would be all zeros: RFC 7748's check).
    pub fn agree(&self, public: &[u8; 32]) -> Option<Zeroizing<[u8; 32]>> {
        let peer = UnparsedPublicKey::new(&agreement::X25519, public);
        agreement::agree(self.key.as_ref()?, peer, (), |shared| {
            let mut out = Zeroizing::new([0u8; 32]);
            out.copy_from_slice(shared);
            Ok(out)
        })
        .ok()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("x25519::Secret([REDACTED])")
    }
}

/// The public key of the private key `secret`.
pub fn public_key(secret: &[u8; 32]) -> [u8; 32] {
    *Secret::from_bytes(secret).public_key()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agree(secret: &[u8; 32], public: &[u8; 32]) -> Option<Zeroizing<[u8; 32]>> {
        Secret::from_bytes(secret).agree(public)
    }

    fn hex(text: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (index, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[index * 2..index * 2 + 2], 16).unwrap();
        }
        out
    }

    /// RFC 7748, section 6.1: Alice's and Bob's keys and their shared secret.
    #[test]
    fn rfc_7748_diffie_hellman() {
        let alice = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        let bob = hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
        let alice_public = public_key(&alice);
        let bob_public = public_key(&bob);
        assert_eq!(
            alice_public,
            hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
        );
        assert_eq!(
            bob_public,
            hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
        );
        let shared = hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
        assert_eq!(*agree(&alice, &bob_public).unwrap(), shared);
        assert_eq!(*agree(&bob, &alice_public).unwrap(), shared);
    }

    #[test]
    fn the_same_keys_as_x25519_dalek() {
        for seed in 0u8..16 {
            let secret = [seed.wrapping_mul(37).wrapping_add(1); 32];
            let dalek = x25519_dalek::StaticSecret::from(secret);
            let peer = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from([seed; 32]));
            assert_eq!(
                public_key(&secret),
                *x25519_dalek::PublicKey::from(&dalek).as_bytes()
            );
            assert_eq!(
                *agree(&secret, peer.as_bytes()).unwrap(),
                *dalek.diffie_hellman(&peer).as_bytes()
            );
        }
    }

    #[test]
    fn low_order_points_agree_on_nothing() {
        assert!(agree(&[7; 32], &[0; 32]).is_none());
        let mut one = [0u8; 32];
        one[0] = 1;
        assert!(agree(&[7; 32], &one).is_none());
    }
}
