//! corridor's endpoint library: end-to-end encrypted, multiplexed sessions
//! between a client and an endpoint, through a corridor (or flowersec v1)
//! relay or directly, wire-compatible with flowersec v1.
//!
//! The stack, bottom up, one module each:
//! - [`carrier`]: how records travel (WebSocket, one record per binary message).
//! - [`secure`]: the fsec1 handshake and record layer of `corridor-core`,
//!   driven over a carrier, as a byte stream.
//! - [`mux`]: yamux streams over the secure stream, each opened with a StreamHello.
//! - [`rpc`]: typed calls and notifications both ways on the `rpc` stream.
//! - [`Client`] and [`Endpoint`]: the two ways into a [`Session`].
//!
//! ```no_run
//! # async fn run(grant: corridor_core::grant::ChannelInitGrant) -> Result<(), Box<dyn std::error::Error>> {
//! use corridor::{Client, SessionOptions};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! let session = Client::connect_tunnel(&grant, &SessionOptions::default()).await?;
//! let info: serde_json::Value = session.rpc().call(3, &serde_json::json!({})).await?;
//! let mut stream = session.open_stream("echo").await?;
//! stream.write_all(b"hello").await?;
//! stream.shutdown().await?;
//! let mut back = Vec::new();
//! stream.read_to_end(&mut back).await?;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

pub mod builtin;
pub mod carrier;
mod client;
mod endpoint;
mod error;
pub mod hello;
pub mod mux;
pub mod rpc;
pub mod secure;
mod session;
mod tunnel;

pub use client::Client;
pub use endpoint::{DirectCredential, Endpoint};
pub use error::{CarrierError, Error, PeerClosed};
pub use mux::{MuxOptions, Stream};
pub use session::{Session, SessionOptions};
