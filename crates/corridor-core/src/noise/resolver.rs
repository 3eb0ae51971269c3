//! snow's primitives with corridor's X25519 ([`crate::x25519`], 2.4x faster
//! than the x25519-dalek snow brings) in place of snow's own; the ciphers
//! and the hash stay snow's (ring's AES-GCM where it has it, RustCrypto's
//! otherwise).

use snow::params::{CipherChoice, DHChoice, HashChoice};
use snow::resolvers::{
    BoxedCryptoResolver, CryptoResolver, DefaultResolver, FallbackResolver, RingResolver,
};
use snow::types::{Cipher, Dh, Hash, Random};
use zeroize::Zeroizing;

/// The resolver every corridor handshake builds with.
pub(super) fn resolver() -> BoxedCryptoResolver {
    let snow_own = FallbackResolver::new(Box::new(RingResolver), Box::new(DefaultResolver));
    Box::new(FallbackResolver::new(
        Box::new(X25519Only),
        Box::new(snow_own),
    ))
}

/// Resolves Curve25519 and nothing else.
struct X25519Only;

impl CryptoResolver for X25519Only {
    fn resolve_rng(&self) -> Option<Box<dyn Random>> {
        None
    }

    fn resolve_dh(&self, choice: &DHChoice) -> Option<Box<dyn Dh>> {
        match choice {
            DHChoice::Curve25519 => Some(Box::<X25519Key>::default()),
            _ => None,
        }
    }

    fn resolve_hash(&self, _: &HashChoice) -> Option<Box<dyn Hash>> {
        None
    }

    fn resolve_cipher(&self, _: &CipherChoice) -> Option<Box<dyn Cipher>> {
        None
    }
}

/// One side's static or ephemeral key: the bytes snow may ask back for,
/// and the key built from them once for the handshake's agreements.
#[derive(Default)]
struct X25519Key {
    private: Zeroizing<[u8; 32]>,
    key: Option<crate::x25519::Secret>,
}

impl X25519Key {
    fn build(&mut self) {
        self.key = Some(crate::x25519::Secret::from_bytes(&self.private));
    }
}

impl Dh for X25519Key {
    fn name(&self) -> &'static str {
        "25519"
    }

    fn pub_len(&self) -> usize {
        32
    }

    fn priv_len(&self) -> usize {
        32
    }

    fn set(&mut self, private: &[u8]) {
        // snow checks the length before it calls; a short key is padded
        // with zeros rather than panicking.
        let len = private.len().min(32);
        *self.private = [0u8; 32];
        self.private[..len].copy_from_slice(&private[..len]);
        self.build();
    }

    fn generate(&mut self, rng: &mut dyn Random) -> Result<(), snow::Error> {
        rng.try_fill_bytes(self.private.as_mut())?;
        self.build();
        Ok(())
    }

    fn pubkey(&self) -> &[u8] {
        self.key.as_ref().map_or(&[0u8; 32], |key| key.public_key())
    }

    fn privkey(&self) -> &[u8] {
        self.private.as_ref()
    }

    /// A low-order peer key (an all-zero secret) is an error, not a key.
    fn dh(&self, public: &[u8], out: &mut [u8]) -> Result<(), snow::Error> {
        let public: [u8; 32] = public
            .get(..32)
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(snow::Error::Dh)?;
        let key = self.key.as_ref().ok_or(snow::Error::Dh)?;
        let shared = key.agree(&public).ok_or(snow::Error::Dh)?;
        out.get_mut(..32)
            .ok_or(snow::Error::Dh)?
            .copy_from_slice(shared.as_ref());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same handshake with snow's own resolver on one side and this one
    /// on the other completes: the primitives agree.
    #[test]
    fn interoperates_with_snow_own_x25519() {
        let params: snow::params::NoiseParams =
            "Noise_IK_25519_AESGCM_SHA256".parse().expect("params");
        let (client, server) = ([3u8; 32], [4u8; 32]);
        let server_public = crate::x25519::public_key(&server);
        let mut initiator = snow::Builder::with_resolver(params.clone(), resolver())
            .local_private_key(&client)
            .and_then(|b| b.remote_public_key(&server_public))
            .and_then(|b| b.build_initiator())
            .expect("initiator");
        let mut responder = snow::Builder::new(params)
            .local_private_key(&server)
            .and_then(|b| b.build_responder())
            .expect("responder");
        let (mut message, mut payload) = ([0u8; 256], [0u8; 256]);
        let len = initiator
            .write_message(b"hi", &mut message)
            .expect("write 1");
        let read = responder
            .read_message(&message[..len], &mut payload)
            .expect("read 1");
        assert_eq!(&payload[..read], b"hi");
        assert_eq!(
            responder.get_remote_static(),
            Some(&crate::x25519::public_key(&client)[..])
        );
        let len = responder
            .write_message(b"yo", &mut message)
            .expect("write 2");
        let read = initiator
            .read_message(&message[..len], &mut payload)
            .expect("read 2");
        assert_eq!(&payload[..read], b"yo");
        assert_eq!(
            initiator.get_handshake_hash(),
            responder.get_handshake_hash()
        );
    }
}
