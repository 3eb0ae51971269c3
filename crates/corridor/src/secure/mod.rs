//! The secure channel: fsec1 over a record carrier, as a byte stream.
//!
//! [`handshake`] runs the sans-io state machines of `corridor-core` over a
//! carrier; [`SecureStream`] then seals what is written into records and opens
//! what arrives, as a tokio `AsyncRead + AsyncWrite`.

pub mod handshake;
mod stream;

pub(crate) use stream::Counters;
pub use stream::{RekeyHandle, SecureOptions, SecureStats, SecureStream};
