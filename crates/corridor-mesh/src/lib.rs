//! corridor's peer mesh (seed 004): long-running nodes keep encrypted,
//! mutually authenticated WebSocket sessions with each other and exchange
//! typed messages, without one peer being able to flood or fool them.
//!
//! - [`identity`]: a node's X25519 key, name and role; peer ids.
//! - [`auth`]: the hello inside the handshake (version, name, role) and
//!   the allowlist, with refusals the initiator can read.
//! - [`message`]: messages, roles, which types are orders.
//! - [`dedup`]: recently seen message ids.
//! - [`transport`]: connections, sending, broadcast, disconnect codes.
//! - [`registry`]: known peers in a redb file.
//! - [`node`]: a running node: transport, registry, reconnecting to known
//!   peers, and its admin API (JSON-RPC 2.0 over WebSocket on loopback).
//! - `server`: the listener, the cap before the upgrade, origins.
//!
//! The seed's static ECDH + HMAC challenge is replaced by the `noise`
//! suite (XX or IK): forward secrecy and mutual authentication from the
//! handshake itself, and the observable behaviour kept (version check,
//! readable rejection, 10 s handshake deadline).

pub mod auth;
mod config;
pub mod dedup;
pub mod identity;
pub mod message;
mod metrics;
pub mod node;
pub mod registry;
mod request;
mod server;
pub mod transport;

pub use auth::Access;
pub use config::TransportConfig;
pub use identity::NodeIdentity;
pub use message::{Message, OrderTypes, Role};
pub use server::origin_allowed;
pub use transport::{MeshEvent, PeerConnection, PeerInfo, Transport, codes};

/// Errors of the mesh transport.
#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    /// The listener could not bind.
    #[error("bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The identity file could not be read or made.
    #[error("identity: {0}")]
    Identity(String),
    /// The configuration is unusable.
    #[error("{0}")]
    Config(String),
    /// Connecting or the handshake failed; a refusal's reason is in it.
    #[error(transparent)]
    Session(#[from] corridor::Error),
    /// The peer's handshake did not say what a mesh node says.
    #[error("handshake: {0}")]
    Handshake(String),
    /// A connection to this peer already exists and stays.
    #[error("already connected to {0}")]
    Duplicate(String),
    /// No connection to this peer.
    #[error("not connected to {0}")]
    NotConnected(String),
    /// This node is at its connection cap.
    #[error("at the connection cap")]
    AtCapacity,
    /// Sending failed (too large, queue full past the write timeout, closed).
    #[error(transparent)]
    Rpc(corridor::rpc::RpcError),
    /// The peer registry failed.
    #[error("store: {0}")]
    Store(String),
    /// No reply to request `0` came in time.
    #[error("no reply to {0} in time")]
    NoReply(String),
}
