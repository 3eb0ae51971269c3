//! corridor's endpoint library: end-to-end encrypted, multiplexed sessions
//! between a client and an endpoint, through a corridor (or flowersec v1)
//! relay or directly, wire-compatible with flowersec v1.
//!
//! The stack, bottom up, one module each:
//! - [`carrier`]: how records travel (WebSocket, one record per binary message;
//!   or u32-length-prefixed records on a TCP or Unix socket).
//! - [`secure`]: any suite's handshake and record layer of `corridor-core`
//!   (fsec1 with a channel PSK, noise with static keys), driven over a
//!   carrier, as a byte stream. The suite is chosen in the WebSocket upgrade
//!   or a byte stream's first record; [`credential`] says what each side brings.
//! - [`mux`]: yamux streams over the secure stream, each opened with a StreamHello.
//! - [`rpc`]: typed calls and notifications both ways on the `rpc` stream.
//! - [`Client`] and [`Endpoint`]: the two ways into a [`Session`], which
//!   knows its [`Peer`].
//! - [`reconnect`]: a session kept up across ends, with backoff and a fresh
//!   grant per attempt.
//!
//! An endpoint listening directly and a client calling it, in one process:
//!
//! ```
//! use corridor::rpc::Failure;
//! use corridor::{Client, DirectCredential, DirectInfo, Endpoint, SessionOptions, Suite};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let psk = [7u8; 32]; // in real use: random, and given to the client out of band
//! let credential = DirectCredential {
//!     psk: psk.into(),
//!     suite: Suite::X25519HkdfSha256Aes256Gcm,
//!     channel_id: Some("doc".into()),
//!     init_exp_unix_s: 4_000_000_000,
//! };
//! let info = DirectInfo {
//!     ws_url: format!("ws://{}/", listener.local_addr()?),
//!     channel_id: "doc".into(),
//!     e2ee_psk_b64u: corridor::core::b64::encode(psk),
//!     channel_init_expire_at_unix_s: 4_000_000_000,
//!     default_suite: Suite::X25519HkdfSha256Aes256Gcm,
//! };
//!
//! // The endpoint: answers type_id 1 by doubling, echoes "echo" streams.
//! let router = corridor::rpc::Router::new().handle(1, |n: u64| async move { Ok::<_, Failure>(n * 2) });
//! let options = SessionOptions::default().with_router(router);
//! tokio::spawn(async move {
//!     let (tcp, _) = listener.accept().await?;
//!     let session = Endpoint::accept_direct(tcp, &credential, &options).await?;
//!     let stream = session.accept_stream().await?;
//!     corridor::builtin::echo(stream).await?;
//!     session.closed().await;
//!     Ok::<_, corridor::Error>(())
//! });
//!
//! // The client.
//! let session = Client::connect_direct(&info, &SessionOptions::default()).await?;
//! let doubled: u64 = session.rpc().call(1, &21).await?;
//! assert_eq!(doubled, 42);
//! let mut stream = session.open_stream("echo").await?;
//! stream.write_all(b"hello").await?;
//! stream.shutdown().await?;
//! let mut back = Vec::new();
//! stream.read_to_end(&mut back).await?;
//! assert_eq!(back, b"hello");
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

#![forbid(unsafe_code)]

pub mod builtin;
pub mod carrier;
mod client;
pub mod clock;
pub mod credential;
mod endpoint;
mod error;
pub mod hello;
pub mod jsonrpc;
pub mod keystore;
pub mod listener;
pub mod liveness;
pub mod mux;
mod negotiate;
pub mod origin;
pub mod peer;
#[cfg(target_os = "linux")]
pub mod process;
pub mod reconnect;
pub mod rpc;
pub mod secure;
mod session;
mod timer;
pub mod tls;
mod tunnel;
mod wake_set;

/// The sans-io protocol core, re-exported so applications need one dependency.
pub use corridor_core as core;
pub use corridor_core::fsec1::Suite;
pub use corridor_core::grant::{ChannelInitGrant, DirectInfo};

pub use carrier::Connection;
pub use client::Client;
pub use credential::{ClientCredential, DirectCredential, EndpointCredential, NoiseCredential};
pub use endpoint::Endpoint;
pub use error::{CarrierError, Error, PeerClosed};
pub use mux::{MuxOptions, Stream};
pub use peer::{ConnectionInfo, Peer};
pub use session::{Session, SessionOptions};
