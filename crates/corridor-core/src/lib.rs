//! The sans-io protocol core of corridor.
//!
//! This crate owns the wire formats and the rules of the protocol: issuer keys,
//! FST2 attach tokens, channel-init grants, the relay attach message, the close
//! codes and reasons a relay answers with, the E2EE suites behind one interface
//! ([`suite`]: [`fsec1`] and [`noise`]), how peers choose one ([`negotiate`]),
//! node identities, StreamHello, the RPC envelope, the yamux frame header,
//! and where WebSocket frames end. It does no networking and reads no clock:
//! every function takes the bytes and the current time as arguments and
//! returns a value or a typed error, so each piece is unit-tested and fuzzed
//! alone. The async crates (`corridor`, `corridor-relay`) drive it.

#![forbid(unsafe_code)]

pub mod attach;
pub mod b64;
pub mod close;
pub mod codec;
pub mod fsec1;
pub mod grant;
pub mod hello;
pub mod identity;
pub mod keys;
pub mod negotiate;
pub mod noise;
pub mod role;
pub mod rpc;
pub mod suite;
pub mod token;
pub mod ws_boundary;
pub mod x25519;
pub mod yamux;

pub use role::Role;
