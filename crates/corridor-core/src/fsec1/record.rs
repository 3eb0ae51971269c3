//! FSEC records: `"FSEC" | version u8 | flag u8 | sequence u64 BE | length u32 BE`
//! then the AES-256-GCM ciphertext and tag. The 18-byte header is the AAD and
//! the nonce is the direction's 4-byte prefix followed by the sequence number,
//! so every record is bound to its place in the stream: a skipped, repeated or
//! reordered record fails. AES-256-GCM is `ring`'s.

use super::schedule::{self, Direction};
use super::{Fsec1Error, VERSION};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// The four bytes every record starts with.
pub const MAGIC: [u8; 4] = *b"FSEC";
/// Bytes of header before the ciphertext.
pub const HEADER_LEN: usize = 18;
/// Bytes of the AES-GCM tag after the ciphertext.
pub const TAG_LEN: usize = 16;
/// Header plus tag: what a record adds to its plaintext.
pub const OVERHEAD: usize = HEADER_LEN + TAG_LEN;

/// What a record carries.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Flag {
    /// Application bytes.
    App = 0,
    /// An empty keepalive; the opener skips it.
    Ping = 1,
    /// An empty record after which the sender's key changes.
    Rekey = 2,
}

impl Flag {
    fn from_u8(value: u8) -> Result<Flag, Fsec1Error> {
        match value {
            0 => Ok(Flag::App),
            1 => Ok(Flag::Ping),
            2 => Ok(Flag::Rekey),
            other => Err(Fsec1Error::InvalidFlag(other)),
        }
    }
}

/// The largest plaintext a record of `max_record_bytes` can hold.
pub const fn max_plaintext(max_record_bytes: usize) -> usize {
    max_record_bytes.saturating_sub(OVERHEAD)
}

/// The key state of one direction.
struct DirectionKeys {
    aead: LessSafeKey,
    nonce_prefix: [u8; 4],
    next: u64,
    rekey: RekeyMaterial,
}

/// What a rekey derives from; zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
struct RekeyMaterial {
    base: [u8; 32],
    transcript: [u8; 32],
    #[zeroize(skip)]
    direction: Direction,
}

impl DirectionKeys {
    fn new(key: &[u8; 32], nonce_prefix: [u8; 4], next: u64, rekey: RekeyMaterial) -> Self {
        DirectionKeys {
            aead: aead_key(key),
            nonce_prefix,
            next,
            rekey,
        }
    }

    fn nonce(&self, sequence: u64) -> Nonce {
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(&self.nonce_prefix);
        nonce[4..].copy_from_slice(&sequence.to_be_bytes());
        Nonce::assume_unique_for_key(nonce)
    }

    fn rekey_at(&mut self, sequence: u64) {
        let key = schedule::rekey_key(
            &self.rekey.base,
            &self.rekey.transcript,
            sequence,
            self.rekey.direction,
        );
        self.aead = aead_key(&key);
    }
}

fn aead_key(key: &[u8; 32]) -> LessSafeKey {
    // AES-256-GCM takes any 32-byte key.
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("32-byte AES-256 key"))
}

/// Seals the records one side sends, numbering them from its first sequence.
pub struct Sealer {
    keys: DirectionKeys,
    max_record_bytes: usize,
}

/// Opens the records the peer sends, in strict sequence.
pub struct Opener {
    keys: DirectionKeys,
    max_record_bytes: usize,
}

/// An opened record: its flag, sequence and the plaintext, decrypted in place.
#[derive(Debug)]
pub struct Opened<'a> {
    /// What the record carries. Rekey records have already switched the key.
    pub flag: Flag,
    /// The record's sequence number.
    pub sequence: u64,
    /// The plaintext, inside the buffer that held the record.
    pub plaintext: &'a mut [u8],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("next", &self.keys.next)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opener")
            .field("next", &self.keys.next)
            .finish_non_exhaustive()
    }
}

/// The parameters of one direction's record keys.
pub struct DirectionParams<'a> {
    /// The AES-256-GCM key.
    pub key: &'a [u8; 32],
    /// The 4-byte nonce prefix.
    pub nonce_prefix: [u8; 4],
    /// The first sequence number.
    pub first_sequence: u64,
    /// The session's rekey base.
    pub rekey_base: &'a [u8; 32],
    /// The session's transcript hash.
    pub transcript: &'a [u8; 32],
    /// Which direction these keys protect.
    pub direction: Direction,
    /// The record size limit, header and tag included.
    pub max_record_bytes: usize,
}

impl DirectionParams<'_> {
    fn keys(&self) -> DirectionKeys {
        DirectionKeys::new(
            self.key,
            self.nonce_prefix,
            self.first_sequence,
            RekeyMaterial {
                base: *self.rekey_base,
                transcript: *self.transcript,
                direction: self.direction,
            },
        )
    }
}

impl Sealer {
    /// A sealer for one direction.
    pub fn new(params: DirectionParams<'_>) -> Sealer {
        Sealer {
            keys: params.keys(),
            max_record_bytes: params.max_record_bytes,
        }
    }

    /// The sequence number the next record gets.
    pub fn next_sequence(&self) -> u64 {
        self.keys.next
    }

    /// The record size limit, header and tag included.
    pub fn max_record_bytes(&self) -> usize {
        self.max_record_bytes
    }

    /// Seals `record` in place. The caller lays it out as `HEADER_LEN` bytes of
    /// room, the plaintext, then `TAG_LEN` bytes of room; this writes the header,
    /// encrypts the plaintext and writes the tag, so no byte is copied twice.
    pub fn seal_in_place(&mut self, flag: Flag, record: &mut [u8]) -> Result<u64, Fsec1Error> {
        if record.len() > self.max_record_bytes {
            return Err(Fsec1Error::RecordTooLarge);
        }
        if record.len() < OVERHEAD {
            return Err(Fsec1Error::InvalidLength);
        }
        let ciphertext_len =
            u32::try_from(record.len() - HEADER_LEN).map_err(|_| Fsec1Error::RecordTooLarge)?;
        let sequence = self.keys.next;
        if sequence == u64::MAX {
            return Err(Fsec1Error::SequenceExhausted);
        }
        let mut header = [0u8; HEADER_LEN];
        header[..4].copy_from_slice(&MAGIC);
        header[4] = VERSION;
        header[5] = flag as u8;
        header[6..14].copy_from_slice(&sequence.to_be_bytes());
        header[14..18].copy_from_slice(&ciphertext_len.to_be_bytes());
        record[..HEADER_LEN].copy_from_slice(&header);
        let tag_at = record.len() - TAG_LEN;
        let tag = self
            .keys
            .aead
            .seal_in_place_separate_tag(
                self.keys.nonce(sequence),
                Aad::from(header),
                &mut record[HEADER_LEN..tag_at],
            )
            .map_err(|_| Fsec1Error::RecordTooLarge)?;
        record[tag_at..].copy_from_slice(tag.as_ref());
        self.keys.next = sequence + 1;
        if flag == Flag::Rekey {
            self.keys.rekey_at(sequence);
        }
        Ok(sequence)
    }

    /// Appends a sealed record of `plaintext` to `out`.
    ///
    /// ```
    /// # use corridor_core::fsec1::record::*;
    /// # let (mut sealer, mut opener) = corridor_core::fsec1::record::test_pair();
    /// let mut wire = Vec::new();
    /// sealer.seal(Flag::App, b"hello", &mut wire).unwrap();
    /// let opened = opener.open_in_place(&mut wire).unwrap();
    /// assert_eq!((opened.flag, &opened.plaintext[..]), (Flag::App, &b"hello"[..]));
    /// ```
    pub fn seal(
        &mut self,
        flag: Flag,
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<u64, Fsec1Error> {
        let start = out.len();
        out.resize(start + HEADER_LEN, 0);
        out.extend_from_slice(plaintext);
        out.resize(out.len() + TAG_LEN, 0);
        let result = self.seal_in_place(flag, &mut out[start..]);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }
}

impl Opener {
    /// An opener for one direction.
    pub fn new(params: DirectionParams<'_>) -> Opener {
        Opener {
            keys: params.keys(),
            max_record_bytes: params.max_record_bytes,
        }
    }

    /// The sequence number the next record must have.
    pub fn next_sequence(&self) -> u64 {
        self.keys.next
    }

    /// Checks and decrypts one record in place. Nothing changes on error, and
    /// the caller must then drop the session: fsec1 has no recovery.
    pub fn open_in_place<'a>(&mut self, record: &'a mut [u8]) -> Result<Opened<'a>, Fsec1Error> {
        let header = parse_header(record, self.max_record_bytes)?;
        if header.sequence != self.keys.next {
            return Err(Fsec1Error::Sequence {
                expected: self.keys.next,
                got: header.sequence,
            });
        }
        let next = header
            .sequence
            .checked_add(1)
            .ok_or(Fsec1Error::SequenceExhausted)?;
        let mut aad = [0u8; HEADER_LEN];
        aad.copy_from_slice(&record[..HEADER_LEN]);
        let plaintext = self
            .keys
            .aead
            .open_in_place(
                self.keys.nonce(header.sequence),
                Aad::from(aad),
                &mut record[HEADER_LEN..],
            )
            .map_err(|_| Fsec1Error::Decrypt)?;
        self.keys.next = next;
        if header.flag == Flag::Rekey {
            self.keys.rekey_at(header.sequence);
        }
        Ok(Opened {
            flag: header.flag,
            sequence: header.sequence,
            plaintext,
        })
    }
}

/// The fields of a record header.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Header {
    /// The record's flag.
    pub flag: Flag,
    /// The record's sequence number.
    pub sequence: u64,
}

/// Checks a record's size, magic, version, flag and length field, in
/// flowersec's order, without decrypting it.
pub fn parse_header(record: &[u8], max_record_bytes: usize) -> Result<Header, Fsec1Error> {
    if record.len() > max_record_bytes {
        return Err(Fsec1Error::RecordTooLarge);
    }
    let Some(header) = record.first_chunk::<HEADER_LEN>() else {
        return Err(Fsec1Error::InvalidLength);
    };
    if record.len() < OVERHEAD {
        return Err(Fsec1Error::InvalidLength);
    }
    if header[..4] != MAGIC {
        return Err(Fsec1Error::InvalidMagic);
    }
    if header[4] != VERSION {
        return Err(Fsec1Error::InvalidVersion);
    }
    let flag = Flag::from_u8(header[5])?;
    let mut sequence = [0u8; 8];
    sequence.copy_from_slice(&header[6..14]);
    let length = u32::from_be_bytes([header[14], header[15], header[16], header[17]]) as usize;
    if length < TAG_LEN || record.len() != HEADER_LEN + length {
        return Err(Fsec1Error::InvalidLength);
    }
    Ok(Header {
        flag,
        sequence: u64::from_be_bytes(sequence),
    })
}

/// A sealer and opener for the same direction with a fixed key, for examples
/// and tests (never for real traffic).
#[doc(hidden)]
pub fn test_pair() -> (Sealer, Opener) {
    let params = || DirectionParams {
        key: &[7u8; 32],
        nonce_prefix: [1, 2, 3, 4],
        first_sequence: 1,
        rekey_base: &[9u8; 32],
        transcript: &[5u8; 32],
        direction: Direction::ClientToServer,
        max_record_bytes: super::DEFAULT_MAX_RECORD_BYTES,
    };
    (Sealer::new(params()), Opener::new(params()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(sealer: &mut Sealer, flag: Flag, plaintext: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        sealer.seal(flag, plaintext, &mut out).unwrap();
        out
    }

    #[test]
    fn records_open_in_order_and_pings_and_rekeys_are_reported() {
        let (mut sealer, mut opener) = test_pair();
        let mut a = sealed(&mut sealer, Flag::App, b"one");
        let mut ping = sealed(&mut sealer, Flag::Ping, b"");
        let mut rekey = sealed(&mut sealer, Flag::Rekey, b"");
        let mut b = sealed(&mut sealer, Flag::App, b"two");
        assert_eq!(opener.open_in_place(&mut a).unwrap().plaintext, b"one");
        assert_eq!(opener.open_in_place(&mut ping).unwrap().flag, Flag::Ping);
        assert_eq!(opener.open_in_place(&mut rekey).unwrap().flag, Flag::Rekey);
        let opened = opener.open_in_place(&mut b).unwrap();
        assert_eq!((opened.sequence, &opened.plaintext[..]), (4, &b"two"[..]));
    }

    #[test]
    fn skipped_repeated_and_reordered_records_fail_without_advancing() {
        let (mut sealer, mut opener) = test_pair();
        let first = sealed(&mut sealer, Flag::App, b"1");
        let second = sealed(&mut sealer, Flag::App, b"2");
        let err = opener.open_in_place(&mut second.clone()).unwrap_err();
        assert_eq!(
            err,
            Fsec1Error::Sequence {
                expected: 1,
                got: 2
            }
        );
        opener.open_in_place(&mut first.clone()).unwrap();
        let err = opener.open_in_place(&mut first.clone()).unwrap_err();
        assert_eq!(
            err,
            Fsec1Error::Sequence {
                expected: 2,
                got: 1
            }
        );
        opener.open_in_place(&mut second.clone()).unwrap();
    }

    #[test]
    fn a_flipped_bit_anywhere_fails() {
        let (mut sealer, _) = test_pair();
        let record = sealed(&mut sealer, Flag::App, b"attack at dawn");
        for bit in 0..record.len() * 8 {
            let (_, mut opener) = test_pair();
            let mut tampered = record.clone();
            tampered[bit / 8] ^= 1 << (bit % 8);
            assert!(opener.open_in_place(&mut tampered).is_err(), "bit {bit}");
            assert_eq!(opener.next_sequence(), 1);
        }
        let (_, mut opener) = test_pair();
        let mut header_flip = record.clone();
        header_flip[5] = 1; // a ping flag on an app record: the AAD differs
        assert_eq!(
            opener.open_in_place(&mut header_flip).unwrap_err(),
            Fsec1Error::Decrypt
        );
    }

    #[test]
    fn truncated_oversized_and_malformed_records_are_named() {
        let (mut sealer, mut opener) = test_pair();
        let record = sealed(&mut sealer, Flag::App, b"xyz");
        assert_eq!(
            parse_header(&record[..17], 1 << 20),
            Err(Fsec1Error::InvalidLength)
        );
        assert_eq!(
            parse_header(&record[..33], 1 << 20),
            Err(Fsec1Error::InvalidLength)
        );
        assert_eq!(
            parse_header(&record[..record.len() - 1], 1 << 20),
            Err(Fsec1Error::InvalidLength)
        );
        assert_eq!(parse_header(&record, 20), Err(Fsec1Error::RecordTooLarge));
        let mut bad = record.clone();
        bad[0] = b'X';
        assert_eq!(
            opener.open_in_place(&mut bad).unwrap_err(),
            Fsec1Error::InvalidMagic
        );
        let mut bad = record.clone();
        bad[4] = 9;
        assert_eq!(
            opener.open_in_place(&mut bad).unwrap_err(),
            Fsec1Error::InvalidVersion
        );
        let mut bad = record.clone();
        bad[5] = 3;
        assert_eq!(
            opener.open_in_place(&mut bad).unwrap_err(),
            Fsec1Error::InvalidFlag(3)
        );
        let mut small = test_pair().0;
        small.max_record_bytes = 40;
        let mut out = Vec::new();
        assert_eq!(
            small.seal(Flag::App, &[0; 7], &mut out),
            Err(Fsec1Error::RecordTooLarge)
        );
        assert!(out.is_empty());
    }
}
