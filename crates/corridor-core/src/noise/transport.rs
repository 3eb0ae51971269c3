//! Noise transport messages as corridor records, sealed and opened in place.
//!
//! A record is one Noise transport message: `AEAD(k, n, "", kind || plaintext)`
//! with the tag after it, at most 65,535 bytes. `n` counts the records of a
//! direction from 0, so a skipped, repeated or reordered record fails to
//! open. The kind byte marks application bytes, a keepalive, a rekey (after
//! which the sender's key is Noise's `REKEY(k)`), or the handshake's own
//! verdict record. Nonces follow the Noise spec: 32 zero bits, then `n`
//! big-endian for AES-GCM and little-endian for ChaCha20-Poly1305.
//!
//! Written on ring rather than with snow's `TransportState`, because snow
//! seals from one buffer into another and opens likewise: two extra copies of
//! every record. The keys come from snow's split of the finished handshake;
//! a test checks every message against snow's own transport.

use super::{Cipher, MAX_MESSAGE_BYTES, NoiseError};
use crate::suite::{RecordKind, RecordProtector, SecureError};
use ring::aead::{AES_256_GCM, Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, Tag, UnboundKey};
use std::ops::Range;
use zeroize::Zeroizing;

/// Bytes of the AEAD tag.
pub const TAG_LEN: usize = 16;
/// Bytes before the plaintext: the kind.
pub const HEADER_LEN: usize = 1;
/// The largest plaintext of one record.
pub const MAX_PLAINTEXT: usize = MAX_MESSAGE_BYTES - TAG_LEN - HEADER_LEN;

/// Record kinds on the wire.
pub(crate) const KIND_APP: u8 = 0;
pub(crate) const KIND_PING: u8 = 1;
pub(crate) const KIND_REKEY: u8 = 2;
/// The responder's verdict after an XX handshake: only ever the first record.
pub(crate) const KIND_VERDICT: u8 = 3;

/// One direction's Noise CipherState.
struct CipherState {
    cipher: Cipher,
    key: Zeroizing<[u8; 32]>,
    aead: LessSafeKey,
    n: u64,
}

impl CipherState {
    fn new(cipher: Cipher, key: [u8; 32]) -> CipherState {
        let key = Zeroizing::new(key);
        CipherState {
            aead: aead_key(cipher, &key),
            cipher,
            key,
            n: 0,
        }
    }

    fn nonce(&self, n: u64) -> Nonce {
        let mut nonce = [0u8; 12];
        match self.cipher {
            Cipher::AesGcm => nonce[4..].copy_from_slice(&n.to_be_bytes()),
            Cipher::ChaChaPoly => nonce[4..].copy_from_slice(&n.to_le_bytes()),
        }
        Nonce::assume_unique_for_key(nonce)
    }

    /// The next sending nonce; 2^64 - 1 is reserved by the spec (for `REKEY`).
    fn take_nonce(&mut self) -> Result<Nonce, NoiseError> {
        if self.n == u64::MAX {
            return Err(NoiseError::NonceExhausted);
        }
        let nonce = self.nonce(self.n);
        self.n += 1;
        Ok(nonce)
    }

    /// Noise's default `REKEY(k)`: the first 32 bytes of
    /// `ENCRYPT(k, 2^64 - 1, "", zeros(32))`.
    fn rekey(&mut self) {
        let mut next = Zeroizing::new([0u8; 32]);
        // Sealing 32 bytes under a valid key cannot fail.
        let _ =
            self.aead
                .seal_in_place_separate_tag(self.nonce(u64::MAX), Aad::empty(), next.as_mut());
        self.key = next;
        self.aead = aead_key(self.cipher, &self.key);
    }
}

fn aead_key(cipher: Cipher, key: &[u8; 32]) -> LessSafeKey {
    let algorithm = match cipher {
        Cipher::AesGcm => &AES_256_GCM,
        Cipher::ChaChaPoly => &CHACHA20_POLY1305,
    };
    // Both algorithms take any 32-byte key.
    LessSafeKey::new(UnboundKey::new(algorithm, key).expect("32-byte key"))
}

/// A session's two Noise CipherStates as a [`RecordProtector`].
pub struct NoiseRecords {
    send: CipherState,
    receive: CipherState,
}

impl std::fmt::Debug for NoiseRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoiseRecords")
            .field("cipher", &self.send.cipher)
            .field("next_send", &self.send.n)
            .field("next_receive", &self.receive.n)
            .finish()
    }
}

impl NoiseRecords {
    /// The records of one side from the handshake's split keys.
    pub fn new(cipher: Cipher, send_key: [u8; 32], receive_key: [u8; 32]) -> NoiseRecords {
        NoiseRecords {
            send: CipherState::new(cipher, send_key),
            receive: CipherState::new(cipher, receive_key),
        }
    }

    /// Seals `record` (kind room, plaintext, tag room) with the raw kind byte.
    pub(crate) fn seal_kind(&mut self, kind: u8, record: &mut [u8]) -> Result<(), NoiseError> {
        if record.len() < HEADER_LEN + TAG_LEN || record.len() > MAX_MESSAGE_BYTES {
            return Err(NoiseError::RecordLength);
        }
        record[0] = kind;
        let nonce = self.send.take_nonce()?;
        let (body, tag) = record.split_at_mut(record.len() - TAG_LEN);
        let sealed = self
            .send
            .aead
            .seal_in_place_separate_tag(nonce, Aad::empty(), body)
            .map_err(|_| NoiseError::RecordLength)?;
        tag.copy_from_slice(sealed.as_ref());
        if kind == KIND_REKEY {
            self.send.rekey();
        }
        Ok(())
    }

    /// Opens `record` in place: its raw kind byte and the plaintext's range.
    pub(crate) fn open_kind(
        &mut self,
        record: &mut [u8],
    ) -> Result<(u8, Range<usize>), NoiseError> {
        if record.len() < HEADER_LEN + TAG_LEN || record.len() > MAX_MESSAGE_BYTES {
            return Err(NoiseError::RecordLength);
        }
        // The nonce advances only for a record that opens: a failed one
        // leaves the next expected record unchanged.
        let n = self.receive.n;
        if n == u64::MAX {
            return Err(NoiseError::NonceExhausted);
        }
        let (body, tag) = record.split_at_mut(record.len() - TAG_LEN);
        let tag = Tag::try_from(&*tag).map_err(|_| NoiseError::RecordLength)?;
        self.receive
            .aead
            .open_in_place_separate_tag(self.receive.nonce(n), Aad::empty(), tag, body, 0..)
            .map_err(|_| NoiseError::Decrypt)?;
        self.receive.n = n + 1;
        let kind = body[0];
        if kind == KIND_REKEY {
            self.receive.rekey();
        }
        Ok((kind, HEADER_LEN..body.len()))
    }
}

impl RecordProtector for NoiseRecords {
    fn header_len(&self) -> usize {
        HEADER_LEN
    }

    fn tag_len(&self) -> usize {
        TAG_LEN
    }

    fn max_plaintext(&self) -> usize {
        MAX_PLAINTEXT
    }

    fn seal(&mut self, kind: RecordKind, record: &mut [u8]) -> Result<(), SecureError> {
        let kind = match kind {
            RecordKind::App => KIND_APP,
            RecordKind::Ping => KIND_PING,
            RecordKind::Rekey => KIND_REKEY,
        };
        Ok(self.seal_kind(kind, record)?)
    }

    fn open(&mut self, record: &mut [u8]) -> Result<(RecordKind, Range<usize>), SecureError> {
        let (kind, plaintext) = self.open_kind(record)?;
        let kind = match kind {
            KIND_APP => RecordKind::App,
            KIND_PING => RecordKind::Ping,
            KIND_REKEY => RecordKind::Rekey,
            other => return Err(NoiseError::RecordKind(other).into()),
        };
        Ok((kind, plaintext))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two connected sides' records and snow's own transports for the same keys.
    fn pair(cipher: Cipher) -> (NoiseRecords, NoiseRecords) {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        (
            NoiseRecords::new(cipher, a, b),
            NoiseRecords::new(cipher, b, a),
        )
    }

    fn record(kind_room: &[u8]) -> Vec<u8> {
        let mut record = vec![0u8; HEADER_LEN];
        record.extend_from_slice(kind_room);
        record.resize(record.len() + TAG_LEN, 0);
        record
    }

    #[test]
    fn records_open_in_order_only() {
        for cipher in [Cipher::AesGcm, Cipher::ChaChaPoly] {
            let (mut alice, mut bob) = pair(cipher);
            let mut first = record(b"one");
            let mut second = record(b"two");
            alice.seal(RecordKind::App, &mut first).expect("seal");
            alice.seal(RecordKind::App, &mut second).expect("seal");
            // The second before the first: its nonce is not the next one.
            let mut early = second.clone();
            assert_eq!(
                bob.open(&mut early).err(),
                Some(SecureError::Noise(NoiseError::Decrypt))
            );
        }
    }

    #[test]
    fn a_flipped_bit_fails_and_a_rekey_switches_both_sides() {
        for cipher in [Cipher::AesGcm, Cipher::ChaChaPoly] {
            let (mut alice, mut bob) = pair(cipher);
            let mut tampered = record(b"payload");
            alice.seal(RecordKind::App, &mut tampered).expect("seal");
            tampered[3] ^= 1;
            assert!(bob.open(&mut tampered).is_err());

            let (mut alice, mut bob) = pair(cipher);
            let mut rekey = record(b"");
            alice.seal(RecordKind::Rekey, &mut rekey).expect("seal");
            let mut after = record(b"after");
            alice.seal(RecordKind::App, &mut after).expect("seal");
            assert_eq!(bob.open(&mut rekey).expect("open").0, RecordKind::Rekey);
            let (kind, range) = bob.open(&mut after).expect("new key");
            assert_eq!((kind, &after[range]), (RecordKind::App, &b"after"[..]));
        }
    }

    #[test]
    fn records_match_snow_transport_messages_and_rekey() {
        // snow's transport and corridor's records are the same Noise
        // CipherState: messages cross both ways, across a rekey.
        for (cipher, name) in [
            (Cipher::AesGcm, "Noise_NN_25519_AESGCM_SHA256"),
            (Cipher::ChaChaPoly, "Noise_NN_25519_ChaChaPoly_SHA256"),
        ] {
            let params: snow::params::NoiseParams = name.parse().expect("params");
            let mut initiator = snow::Builder::new(params.clone())
                .build_initiator()
                .expect("initiator");
            let mut responder = snow::Builder::new(params)
                .build_responder()
                .expect("responder");
            let mut buf = [0u8; 1024];
            let mut out = [0u8; 1024];
            let len = initiator.write_message(&[], &mut buf).expect("e");
            responder.read_message(&buf[..len], &mut out).expect("e");
            let len = responder.write_message(&[], &mut buf).expect("e, ee");
            initiator
                .read_message(&buf[..len], &mut out)
                .expect("e, ee");
            let (i2r, r2i) = initiator.dangerously_get_raw_split();
            let mut ours = NoiseRecords::new(cipher, i2r, r2i);
            let mut snow_side = responder.into_transport_mode().expect("transport");

            for round in 0..3 {
                let text = format!("round {round}");
                let mut sealed = record(text.as_bytes());
                ours.seal(RecordKind::App, &mut sealed).expect("seal");
                let len = snow_side
                    .read_message(&sealed, &mut out)
                    .expect("snow opens ours");
                assert_eq!(&out[1..len], text.as_bytes());
                assert_eq!(out[0], KIND_APP);

                let mut plain = vec![KIND_APP];
                plain.extend_from_slice(text.as_bytes());
                let len = snow_side
                    .write_message(&plain, &mut buf)
                    .expect("snow seals");
                let mut theirs = buf[..len].to_vec();
                let (_, range) = ours.open(&mut theirs).expect("we open snow's");
                assert_eq!(&theirs[range], text.as_bytes());

                // Both sides change keys the Noise way.
                let mut rekey = record(b"");
                ours.seal(RecordKind::Rekey, &mut rekey)
                    .expect("seal rekey");
                snow_side
                    .read_message(&rekey, &mut out)
                    .expect("rekey record");
                snow_side.rekey_incoming();
                let len = snow_side
                    .write_message(&[KIND_REKEY], &mut buf)
                    .expect("rekey");
                let mut theirs = buf[..len].to_vec();
                ours.open(&mut theirs).expect("rekey record");
                snow_side.rekey_outgoing();
            }
        }
    }

    #[test]
    fn lengths_outside_a_noise_message_are_refused() {
        let (mut alice, mut bob) = pair(Cipher::AesGcm);
        let mut short = vec![0u8; TAG_LEN];
        assert_eq!(
            bob.open(&mut short).err(),
            Some(SecureError::Noise(NoiseError::RecordLength))
        );
        let mut long = vec![0u8; MAX_MESSAGE_BYTES + 1];
        assert!(alice.seal(RecordKind::App, &mut long).is_err());
        let mut full = vec![0u8; MAX_MESSAGE_BYTES];
        alice
            .seal(RecordKind::App, &mut full)
            .expect("the largest record");
        let (_, range) = bob.open(&mut full).expect("open");
        assert_eq!(range.len(), MAX_PLAINTEXT);
    }
}
