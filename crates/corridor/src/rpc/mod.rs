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

mod error;
mod peer;
mod queue;
mod router;

pub use error::{Failure, RpcError};
pub use peer::{Call, Notification, Rpc, RpcOptions, Serve};
pub use router::{Handler, NotifyHandler, RequestOnly, Router, WithCall};
