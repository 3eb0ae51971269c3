//! Every way an fsec1 handshake or record can fail, each with a stable name.

/// An fsec1 failure. Each variant has a stable [`reason`](Fsec1Error::reason)
/// string for logs, metrics and close frames; none carries secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fsec1Error {
    /// The frame is shorter than its header, or its length field disagrees with its size.
    #[error("frame length is invalid")]
    InvalidLength,
    /// The frame does not start with `FSEH` (handshake) or `FSEC` (record).
    #[error("frame magic is invalid")]
    InvalidMagic,
    /// The version byte, or the init body's version or role, is not fsec1's.
    #[error("protocol version is invalid")]
    InvalidVersion,
    /// A handshake frame of a type the current state does not expect.
    #[error("unexpected handshake message type {0}")]
    UnexpectedMessage(u8),
    /// A handshake body over the configured limit.
    #[error("handshake message exceeds the size limit")]
    HandshakeTooLarge,
    /// A handshake body that is not the expected JSON.
    #[error("handshake message is not valid JSON: {0}")]
    InvalidJson(String),
    /// A record over the configured limit.
    #[error("record exceeds the size limit")]
    RecordTooLarge,
    /// A record whose sequence number is not the next one expected.
    #[error("record sequence {got} is not the expected {expected}")]
    Sequence {
        /// The sequence the opener expected.
        expected: u64,
        /// The sequence in the record header.
        got: u64,
    },
    /// The sequence space of this direction is used up.
    #[error("record sequence numbers are exhausted")]
    SequenceExhausted,
    /// A record flag other than app, ping or rekey.
    #[error("record flag {0} is invalid")]
    InvalidFlag(u8),
    /// The record failed AEAD authentication (tampered, or the wrong key).
    #[error("record authentication failed")]
    Decrypt,
    /// The peer's public key is malformed for the suite.
    #[error("public key is invalid")]
    InvalidKey,
    /// The exchange produced an all-zero secret: a low-order public key.
    #[error("public key has low order")]
    LowOrderKey,
    /// The client asked for a suite the server does not allow.
    #[error("suite is not allowed")]
    SuiteMismatch,
    /// The client's channel id is not the server's.
    #[error("channel id does not match")]
    ChannelMismatch,
    /// The ack's auth tag does not verify: the peers do not share the PSK, or the
    /// handshake was tampered with.
    #[error("handshake authentication failed")]
    Authentication,
    /// The ack's timestamp is outside the clock skew or after the channel's init deadline.
    #[error("handshake timestamp is outside the allowed window")]
    Timestamp,
    /// The server's finished record is not an empty ping.
    #[error("server finished record is invalid")]
    InvalidFinished,
    /// The PSK is not 32 bytes.
    #[error("PSK must be exactly 32 bytes")]
    InvalidPsk,
    /// The channel id is empty or too long.
    #[error("channel id is empty or too long")]
    InvalidChannelId,
    /// The server holds too many handshakes waiting for their ack.
    #[error("too many pending handshakes")]
    TooManyPendingHandshakes,
    /// The ack names a handshake the server no longer holds (expired or taken).
    #[error("handshake state is unavailable")]
    HandshakeStateUnavailable,
}

impl Fsec1Error {
    /// A stable snake_case name for logs, metric labels and close reasons.
    pub const fn reason(&self) -> &'static str {
        match self {
            Fsec1Error::InvalidLength => "invalid_length",
            Fsec1Error::InvalidMagic => "invalid_magic",
            Fsec1Error::InvalidVersion => "invalid_version",
            Fsec1Error::UnexpectedMessage(_) => "unexpected_message",
            Fsec1Error::HandshakeTooLarge => "handshake_too_large",
            Fsec1Error::InvalidJson(_) => "invalid_json",
            Fsec1Error::RecordTooLarge => "record_too_large",
            Fsec1Error::Sequence { .. } => "bad_sequence",
            Fsec1Error::SequenceExhausted => "sequence_exhausted",
            Fsec1Error::InvalidFlag(_) => "invalid_flag",
            Fsec1Error::Decrypt => "decrypt_failed",
            Fsec1Error::InvalidKey => "invalid_key",
            Fsec1Error::LowOrderKey => "low_order_key",
            Fsec1Error::SuiteMismatch => "suite_mismatch",
            Fsec1Error::ChannelMismatch => "channel_mismatch",
            Fsec1Error::Authentication => "auth_failed",
            Fsec1Error::Timestamp => "bad_timestamp",
            Fsec1Error::InvalidFinished => "invalid_finished",
            Fsec1Error::InvalidPsk => "invalid_psk",
            Fsec1Error::InvalidChannelId => "invalid_channel_id",
            Fsec1Error::TooManyPendingHandshakes => "too_many_handshakes",
            Fsec1Error::HandshakeStateUnavailable => "handshake_state_unavailable",
        }
    }
}
