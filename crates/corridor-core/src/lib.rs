//! The sans-io protocol core of corridor.
//!
//! This crate owns the wire formats and the rules of the protocol: issuer keys,
//! FST2 attach tokens, channel-init grants, the relay attach message, the close
//! codes and reasons a relay answers with, the fsec1 E2EE handshake and record
//! layer, StreamHello, the RPC envelope, and where WebSocket frames end. It does no networking and reads
//! no clock: every function takes the bytes and the current time as arguments and
//! returns a value or a typed error, so each piece is unit-tested and fuzzed alone.
//! The async crates (`corridor-relay`, the CLI) drive it.

#![forbid(unsafe_code)]

pub mod attach;
pub mod b64;
pub mod close;
pub mod fsec1;
pub mod grant;
pub mod hello;
pub mod keys;
pub mod role;
pub mod rpc;
pub mod token;
pub mod ws_boundary;

pub use role::Role;
