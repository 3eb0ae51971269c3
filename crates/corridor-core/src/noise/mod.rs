//! The `noise` suite: Noise handshakes between peers with X25519 static
//! keys, for services whose peers have identities (the mesh, local IPC,
//! key-enrolled clients). Mutual authentication and forward secrecy come
//! from the pattern, not from clocks.
//!
//! - Patterns **XX** (each side learns the other's key in the handshake),
//!   **IK** (the initiator knows the responder's key) and **KK** (both know
//!   both), each optionally with a PSK (`XXpsk3`, `IKpsk2`, `KKpsk2`);
//!   X25519, AES-256-GCM or ChaCha20-Poly1305, SHA-256. The `snow` crate
//!   runs the handshake.
//! - The initiator's first message opens with a short clear header (wire
//!   version, the Noise protocol name, the channel id, and for KK the key
//!   the initiator claims). The whole header is the Noise prologue, so a
//!   transcript cannot be moved to another channel, suite or version.
//! - Each side sends a bounded application payload, encrypted and after the
//!   point where the peer is authenticated: the initiator's in its first
//!   message (IK, KK) or its last (XX); the responder's with its verdict, in
//!   its message (IK, KK) or in a first record after the handshake (XX). A
//!   refusal carries a reason the initiator can read.
//! - Records are Noise transport messages (at most 65,535 bytes, so 65,518
//!   bytes of plaintext), one per carrier record, with strict in-order
//!   nonces and Noise's `REKEY` on a rekey record ([`transport`]).
//!
//! snow keeps its handshake state in plain memory and does not zeroize it
//! when dropped; corridor's own copies (static keys, PSKs, transport keys)
//! are zeroized.

mod handshake;
mod resolver;
pub mod transport;
pub mod wire;

pub use handshake::{InitiatorConfig, NoiseInitiator, NoiseResponder, ResponderConfig};
pub use transport::NoiseRecords;

/// The largest Noise message, handshake or transport (the spec's limit).
pub const MAX_MESSAGE_BYTES: usize = 65_535;
/// The application payload a side accepts in the handshake by default.
pub const DEFAULT_MAX_PAYLOAD: usize = 4 * 1024;

/// Which handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pattern {
    /// Both static keys travel in the handshake, encrypted.
    XX,
    /// The initiator knows the responder's key; its own travels encrypted.
    IK,
    /// Both know both keys in advance.
    KK,
}

/// Which AEAD protects handshake payloads and records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cipher {
    /// AES-256-GCM (fastest where the CPU has AES instructions).
    AesGcm,
    /// ChaCha20-Poly1305.
    ChaChaPoly,
}

/// A pattern, cipher and whether a PSK is mixed in: one Noise protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Protocol {
    /// The handshake pattern.
    pub pattern: Pattern,
    /// The AEAD.
    pub cipher: Cipher,
    /// Whether a 32-byte PSK is mixed in (`psk3` for XX, `psk2` for IK and KK).
    pub psk: bool,
}

impl Protocol {
    /// The Noise protocol name, e.g. `Noise_IKpsk2_25519_ChaChaPoly_SHA256`.
    ///
    /// ```
    /// use corridor_core::noise::{Cipher, Pattern, Protocol};
    /// let protocol = Protocol { pattern: Pattern::XX, cipher: Cipher::AesGcm, psk: true };
    /// assert_eq!(protocol.name(), "Noise_XXpsk3_25519_AESGCM_SHA256");
    /// assert_eq!(Protocol::from_name(&protocol.name()), Some(protocol));
    /// ```
    pub fn name(&self) -> String {
        let pattern = match (self.pattern, self.psk) {
            (Pattern::XX, false) => "XX",
            (Pattern::XX, true) => "XXpsk3",
            (Pattern::IK, false) => "IK",
            (Pattern::IK, true) => "IKpsk2",
            (Pattern::KK, false) => "KK",
            (Pattern::KK, true) => "KKpsk2",
        };
        let cipher = match self.cipher {
            Cipher::AesGcm => "AESGCM",
            Cipher::ChaChaPoly => "ChaChaPoly",
        };
        format!("Noise_{pattern}_25519_{cipher}_SHA256")
    }

    /// The protocol a name names, if it is one corridor speaks.
    pub fn from_name(name: &str) -> Option<Protocol> {
        let rest = name.strip_prefix("Noise_")?;
        let (pattern, rest) = rest.split_once('_')?;
        let cipher = rest.strip_prefix("25519_")?.strip_suffix("_SHA256")?;
        let (pattern, psk) = match pattern {
            "XX" => (Pattern::XX, false),
            "XXpsk3" => (Pattern::XX, true),
            "IK" => (Pattern::IK, false),
            "IKpsk2" => (Pattern::IK, true),
            "KK" => (Pattern::KK, false),
            "KKpsk2" => (Pattern::KK, true),
            _ => return None,
        };
        let cipher = match cipher {
            "AESGCM" => Cipher::AesGcm,
            "ChaChaPoly" => Cipher::ChaChaPoly,
            _ => return None,
        };
        Some(Protocol {
            pattern,
            cipher,
            psk,
        })
    }

    /// Where the PSK is mixed in: after the initiator's last message token.
    pub(crate) fn psk_location(&self) -> u8 {
        match self.pattern {
            Pattern::XX => 3,
            Pattern::IK | Pattern::KK => 2,
        }
    }
}

/// Every way a Noise handshake or record can fail, each with a stable name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoiseError {
    /// A message or payload does not parse: truncated, trailing bytes, bad lengths.
    #[error("malformed noise message: {0}")]
    Malformed(&'static str),
    /// The header's wire version is not one this side speaks.
    #[error("noise wire version {0} is not supported")]
    Version(u8),
    /// The initiator asked for a protocol the responder does not accept.
    #[error("noise protocol {0:?} is not accepted here")]
    ProtocolNotAccepted(String),
    /// The initiator named another channel than the responder serves.
    #[error("channel id does not match")]
    ChannelMismatch,
    /// A handshake message or payload over its limit.
    #[error("handshake payload exceeds the size limit")]
    PayloadTooLarge,
    /// AEAD authentication failed: tampered, replayed into another session,
    /// or keys that do not match (the wrong static key for IK or KK, the wrong PSK).
    #[error("noise decryption failed")]
    Decrypt,
    /// The handshake failed for another reason snow reported (a bad key, a low-order point).
    #[error("noise handshake failed: {0}")]
    Handshake(String),
    /// Configuration the pattern cannot run with (IK without the responder's
    /// key, a PSK protocol without a PSK).
    #[error("noise configuration: {0}")]
    Config(&'static str),
    /// A record over 65,535 bytes or shorter than its tag.
    #[error("noise record length is invalid")]
    RecordLength,
    /// A record's kind byte is not one corridor defines here.
    #[error("noise record kind {0} is invalid here")]
    RecordKind(u8),
    /// The nonce space of a direction is used up.
    #[error("noise nonces exhausted")]
    NonceExhausted,
    /// A message arrived where the handshake expected none.
    #[error("unexpected handshake message")]
    Unexpected,
}

impl NoiseError {
    /// A stable snake_case name.
    pub const fn reason(&self) -> &'static str {
        match self {
            NoiseError::Malformed(_) => "malformed_message",
            NoiseError::Version(_) => "unsupported_version",
            NoiseError::ProtocolNotAccepted(_) => "protocol_not_accepted",
            NoiseError::ChannelMismatch => "channel_mismatch",
            NoiseError::PayloadTooLarge => "payload_too_large",
            NoiseError::Decrypt => "decrypt_failed",
            NoiseError::Handshake(_) => "handshake_failed",
            NoiseError::Config(_) => "invalid_config",
            NoiseError::RecordLength => "invalid_length",
            NoiseError::RecordKind(_) => "invalid_record_kind",
            NoiseError::NonceExhausted => "sequence_exhausted",
            NoiseError::Unexpected => "unexpected_message",
        }
    }
}

impl From<snow::Error> for NoiseError {
    fn from(error: snow::Error) -> Self {
        match error {
            snow::Error::Decrypt => NoiseError::Decrypt,
            snow::Error::Input => NoiseError::Malformed("noise message"),
            other => NoiseError::Handshake(other.to_string()),
        }
    }
}
