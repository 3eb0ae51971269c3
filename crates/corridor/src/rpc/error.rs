//! What goes wrong in RPC: a handler's [`Failure`] as the caller receives
//! it, and every way a call or notification fails on this side ([`RpcError`]).

/// A handler's failure: the code and message the caller receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// An application code (or 500).
    pub code: u32,
    /// Shown to the caller.
    pub message: String,
}

impl Failure {
    /// A failure with `code` and `message`.
    pub fn new(code: u32, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }
}

/// Why a call or notification failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RpcError {
    /// The peer answered with an error.
    #[error("peer answered {code}: {message}")]
    Remote {
        /// 404, 429, 500, or the handler's code.
        code: u32,
        /// The peer's message.
        message: String,
    },
    /// No answer within the call's timeout.
    #[error("call timed out")]
    Timeout,
    /// This side has as many calls in flight as it allows.
    #[error("too many calls in flight")]
    Overloaded,
    /// The outbound queue to this peer is full (`try_notify`, `try_send`,
    /// or no room before the deadline).
    #[error("outbound queue full")]
    Full,
    /// The message is larger than the frame limit; nothing was sent.
    #[error("message of {bytes} bytes exceeds the {limit}-byte frame limit")]
    TooLarge {
        /// The encoded size.
        bytes: usize,
        /// The limit (`RpcOptions::max_frame_bytes`).
        limit: usize,
    },
    /// The RPC stream is closed; the reason names why.
    #[error("RPC stream closed: {0}")]
    Closed(String),
    /// The request could not be encoded or the response decoded.
    #[error("payload: {0}")]
    Payload(#[from] serde_json::Error),
}

impl RpcError {
    /// A stable snake_case name for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            RpcError::Remote { code: 404, .. } => "not_found",
            RpcError::Remote { code: 429, .. } => "overloaded",
            RpcError::Remote { .. } => "remote_error",
            RpcError::Timeout => "timeout",
            RpcError::Overloaded => "local_overloaded",
            RpcError::Full => "queue_full",
            RpcError::TooLarge { .. } => "too_large",
            RpcError::Closed(_) => "closed",
            RpcError::Payload(_) => "payload",
        }
    }
}
