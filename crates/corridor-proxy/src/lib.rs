//! corridor's ingress proxy (seed 003): a public server that learns which
//! host a visitor wants from the first bytes (HTTP `Host`, TLS SNI) without
//! terminating TLS, and hands the connection to a private agent that dials
//! back with a single-use secret.
//!
//! - [`sniff`]: the preamble parsers (no I/O but the read loop).
//! - [`store`]: registered hosts and their hashed secrets, in a redb file.
//! - [`dialback`]: visitors waiting for their agent's data connection.
//! - [`server`]: the public, data and API listeners ([`ProxyServer`]).
//! - [`agent`]: the private side ([`Agent`]): subscribe, dial back, splice
//!   to local routes only.
//!
//! Every connection a proxy or agent makes to the other runs over TLS; a
//! server with no certificate makes a self-signed one, and agents pin its
//! key (`sha256/...`).

pub mod agent;
mod agents;
mod api;
pub mod client;
mod config;
mod data;
pub mod dialback;
mod metrics;
pub mod proxy_protocol;
mod public;
pub mod routes;
pub mod server;
pub mod sniff;
mod state;
pub mod store;

pub use agent::{Agent, AgentConfig, AgentState};
pub use client::{ApiClient, ApiUrl, ServerTrust};
pub use config::{Limits, ProxyConfig};
pub use proxy_protocol::ProxyProtocol;
pub use routes::{Route, Routes};
pub use server::{ProxyServer, ProxyServerHandle, Ready};

/// The control API's WebSocket path.
pub const API_PATH: &str = "/api";

/// Errors of the proxy and its agent.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// A listener could not bind.
    #[error("bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// TLS material could not be loaded or made.
    #[error(transparent)]
    Tls(#[from] corridor::tls::TlsError),
    /// A server pin is malformed.
    #[error(transparent)]
    Pin(#[from] corridor::tls::PinError),
    /// The registration store failed.
    #[error("store: {0}")]
    Store(String),
    /// A state file could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The server could not be reached or refused the connection.
    #[error("connect {addr}: {detail}")]
    Connect {
        /// Where.
        addr: String,
        /// Why.
        detail: String,
    },
    /// The server answered a call with an error.
    #[error("{method}: {error}")]
    Rpc {
        /// The method.
        method: String,
        /// The error object.
        error: corridor::jsonrpc::RpcError,
    },
    /// A route or address does not parse.
    #[error("{0}")]
    Config(String),
    /// No answer within the deadline.
    #[error("timed out")]
    Timeout,
}
