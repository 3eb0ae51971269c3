//! Typed RPC on a session's `rpc` stream, in flowersec v1's envelope.
//!
//! Both sides of a session hold an [`Rpc`]: each can call the other, notify the
//! other, and serve the handlers of the [`Router`] its session started with;
//! a handler may take a [`Call`] to learn the caller's [`Peer`](crate::Peer)
//! and keep its `Rpc` to push to it later. Requests beyond the serving side's
//! concurrency plus queue limit are answered at once with 429; a handler that
//! is missing gives 404, a payload that does not fit the handler's type 400,
//! a failed handler its own code or 500, a handler that panics 500. Calls
//! time out. A frame that is not a valid envelope closes the RPC stream (only
//! it) and fails the calls waiting on it.
//!
//! Built to push to many sessions: the outbound queue is bounded in bytes;
//! [`Rpc::try_send`] fails at once when a subscriber's queue is full, and a
//! [`Notification`] is encoded once for all of them.

mod peer;
mod queue;
mod router;

pub use peer::{Notification, Rpc, RpcOptions};
pub use router::{Call, Failure, Handler, NotifyHandler, RequestOnly, Router, WithCall};

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
