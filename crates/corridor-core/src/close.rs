//! Close codes and reason strings of the relay, written once.
//!
//! Attach rejections use flowersec v1's codes and reason texts exactly, because
//! its clients tell rejections apart by the reason text. Channel teardowns use
//! flowersec v1's `close_total` reason names; flowersec's relay drops the TCP
//! connection without a close frame there, corridor's sends one so the far
//! endpoint learns why.

/// WebSocket close code 1000: normal closure.
pub const NORMAL: u16 = 1000;
/// WebSocket close code 1001: going away.
pub const GOING_AWAY: u16 = 1001;
/// WebSocket close code 1002: protocol error.
pub const PROTOCOL_ERROR: u16 = 1002;
/// WebSocket close code 1008: policy violation.
pub const POLICY_VIOLATION: u16 = 1008;
/// WebSocket close code 1009: message too big.
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// WebSocket close code 1011: internal error.
pub const INTERNAL_ERROR: u16 = 1011;
/// WebSocket close code 1013: try again later.
pub const TRY_AGAIN_LATER: u16 = 1013;

/// Why the relay refused an attach. `reason()` is both the close reason on
/// the wire and the `reason` label of `flowersec_tunnel_attach_total`.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash)]
pub enum Rejection {
    /// The relay already holds its maximum of connections.
    TooManyConnections,
    /// No attach message arrived before the deadline.
    Timeout,
    /// The relay is shutting down.
    Canceled,
    /// The first message was not a text message, or the connection failed before one came.
    ExpectedAttach,
    /// The first message was larger than the attach limit.
    AttachTooLarge,
    /// The attach message did not parse or validate.
    InvalidAttach,
    /// The token did not verify, or broke the relay's time bounds.
    InvalidToken,
    /// The token names another channel than the attach message.
    ChannelMismatch,
    /// The token names another role than the attach message.
    RoleMismatch,
    /// The token's `token_id` was used before.
    TokenReplay,
    /// The single-use cache is full of live tokens: this one cannot be
    /// remembered, so it is not accepted. flowersec's cache has no bound and
    /// so no such reason; corridor says "try again later" rather than call a
    /// fresh token a replay.
    ReplayCacheFull,
    /// The relay already holds its maximum of channels.
    TooManyChannels,
    /// The channel exists with another `init_exp`.
    InitExpMismatch,
    /// The channel exists with another idle timeout.
    IdleTimeoutMismatch,
    /// The same role was replaced too often in the window.
    ReplaceRateLimited,
    /// Pairing failed after the attach was accepted.
    AttachFailed,
}

impl Rejection {
    /// The WebSocket close code.
    pub const fn code(self) -> u16 {
        match self {
            Rejection::TooManyConnections | Rejection::TooManyChannels => TRY_AGAIN_LATER,
            Rejection::ReplaceRateLimited | Rejection::ReplayCacheFull => TRY_AGAIN_LATER,
            Rejection::Timeout
            | Rejection::InvalidToken
            | Rejection::ChannelMismatch
            | Rejection::RoleMismatch
            | Rejection::TokenReplay
            | Rejection::InitExpMismatch
            | Rejection::IdleTimeoutMismatch => POLICY_VIOLATION,
            Rejection::Canceled => GOING_AWAY,
            Rejection::ExpectedAttach | Rejection::InvalidAttach => PROTOCOL_ERROR,
            Rejection::AttachTooLarge => MESSAGE_TOO_BIG,
            Rejection::AttachFailed => INTERNAL_ERROR,
        }
    }

    /// The reason text of the close frame the endpoint receives.
    pub const fn close_reason(self) -> &'static str {
        match self {
            // flowersec's WebSocket library closes an over-limit read itself,
            // with 1009 and no text, before the tunnel's own close.
            Rejection::AttachTooLarge => "",
            other => other.reason(),
        }
    }

    /// The metric label (and, but for [`Rejection::close_reason`]'s
    /// exception, the close reason).
    pub const fn reason(self) -> &'static str {
        match self {
            // flowersec v1 reports the channel cap with the connection cap's reason.
            Rejection::TooManyConnections | Rejection::TooManyChannels => "too_many_connections",
            Rejection::Timeout => "timeout",
            Rejection::Canceled => "canceled",
            // flowersec v1 counts an oversized attach as `expected_attach`.
            Rejection::ExpectedAttach | Rejection::AttachTooLarge => "expected_attach",
            Rejection::InvalidAttach => "invalid_attach",
            Rejection::InvalidToken => "invalid_token",
            Rejection::ChannelMismatch => "channel_mismatch",
            Rejection::RoleMismatch => "role_mismatch",
            Rejection::TokenReplay => "token_replay",
            Rejection::ReplayCacheFull => "replay_cache_full",
            Rejection::InitExpMismatch => "init_exp_mismatch",
            Rejection::IdleTimeoutMismatch => "idle_timeout_mismatch",
            Rejection::ReplaceRateLimited => "replace_rate_limited",
            Rejection::AttachFailed => "attach_failed",
        }
    }
}

/// Why the relay closed a channel or one of its endpoints. `reason()` is the
/// `reason` label of `flowersec_tunnel_close_total` and the close reason sent
/// to the endpoint that did not cause it.
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash)]
pub enum Teardown {
    /// The other endpoint closed or failed.
    PeerClosed,
    /// An endpoint sent a text message after attaching.
    NonBinaryFrame,
    /// An endpoint sent a message over the record size limit.
    RecordTooLarge,
    /// A waiting endpoint buffered more than the pending limit before its peer came.
    PendingOverflow,
    /// Writing to an endpoint failed or timed out.
    WriteError,
    /// No encrypted record was seen before `init_exp` (plus clock skew).
    InitExpired,
    /// Nothing was forwarded for the idle timeout.
    IdleTimeout,
    /// The relay's queued-bytes budget is spent.
    ResourceExhausted,
    /// A new endpoint of the same role took the channel over.
    Replaced,
    /// The relay is shutting down.
    Shutdown,
}

impl Teardown {
    /// The metric label and close reason.
    pub const fn reason(self) -> &'static str {
        match self {
            Teardown::PeerClosed => "peer_closed",
            Teardown::NonBinaryFrame => "non_binary_frame",
            Teardown::RecordTooLarge => "record_too_large",
            Teardown::PendingOverflow => "pending_overflow",
            Teardown::WriteError => "write_error",
            Teardown::InitExpired => "init_expired",
            Teardown::IdleTimeout => "idle_timeout",
            Teardown::ResourceExhausted => "resource_exhausted",
            Teardown::Replaced => "replaced",
            Teardown::Shutdown => "shutdown",
        }
    }

    /// The close code sent with it.
    pub const fn code(self) -> u16 {
        match self {
            Teardown::PeerClosed => NORMAL,
            Teardown::NonBinaryFrame => PROTOCOL_ERROR,
            Teardown::RecordTooLarge => MESSAGE_TOO_BIG,
            Teardown::PendingOverflow | Teardown::ResourceExhausted => TRY_AGAIN_LATER,
            Teardown::WriteError => INTERNAL_ERROR,
            Teardown::InitExpired | Teardown::IdleTimeout => POLICY_VIOLATION,
            Teardown::Replaced | Teardown::Shutdown => GOING_AWAY,
        }
    }
}

/// Whether a frame is an FSEC encrypted record as flowersec v1's relay
/// recognises one: magic `FSEC`, version 1, and a length field that matches
/// the frame and stays within `max_record_bytes`. Handshake frames do not count.
///
/// ```
/// use corridor_core::close::looks_like_record;
/// let mut frame = b"FSEC\x01\x00".to_vec();
/// frame.extend_from_slice(&7u64.to_be_bytes());
/// frame.extend_from_slice(&3u32.to_be_bytes());
/// frame.extend_from_slice(b"abc");
/// assert!(looks_like_record(&frame, 1 << 20));
/// assert!(!looks_like_record(&frame[..20], 1 << 20));
/// ```
pub fn looks_like_record(frame: &[u8], max_record_bytes: usize) -> bool {
    const HEADER: usize = 18;
    if frame.len() < HEADER || &frame[..4] != b"FSEC" || frame[4] != 1 {
        return false;
    }
    let len = u32::from_be_bytes([frame[14], frame[15], frame[16], frame[17]]) as usize;
    len <= max_record_bytes && HEADER + len == frame.len()
}
