//! Typed RPC on a session's `rpc` stream, in flowersec v1's envelope.
//!
//! Both sides of a session hold an [`Rpc`]: each can call the other, notify the
//! other, and serve handlers registered by `type_id`. Requests beyond the
//! serving side's concurrency plus queue limit are answered at once with 429;
//! a handler that is missing gives 404, a payload that does not fit the
//! handler's type 400, a failed handler its own code or 500, a handler that
//! panics 500. Calls time out.
//! A frame that is not a valid envelope closes the RPC stream (only it) and
//! fails the calls waiting on it.

mod peer;
mod router;

pub use peer::{Rpc, RpcOptions};
pub use router::{Failure, Router};

/// Why a call or notification failed.
#[derive(Debug, thiserror::Error)]
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
            RpcError::Closed(_) => "closed",
            RpcError::Payload(_) => "payload",
        }
    }
}
