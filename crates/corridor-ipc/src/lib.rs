//! corridor's local IPC: a privileged daemon serves unprivileged local
//! clients over a Unix socket and knows which user and which program is
//! calling; clients know they reached the real daemon.
//!
//! - [`socket`]: path sockets in a private directory, or abstract names.
//! - [`policy`]: the client process's uid, gid and executable digest,
//!   checked before its handshake (the executable read through the pidfd
//!   taken at accept, so it is the binary the caller runs), each refusal named.
//! - [`server`] and [`client`]: the Noise suite with pinned keys over the
//!   socket, or, for deployments with a PKI, mutual TLS (the certificates
//!   authenticate both sides; `corridor::tls::PkiDir` makes a development
//!   set), then the session stack (RPC both ways, streams); handlers see
//!   the caller in `call.peer().connection` (`unix` for uid/gid/pid,
//!   `process.executable` for the digest, `tls` for its certificate).
//!
//! ```no_run
//! # async fn run(me: corridor::core::identity::StaticSecret, clients: Vec<corridor::core::identity::PublicKey>) -> Result<(), corridor_ipc::IpcError> {
//! use corridor::rpc::{Call, Failure, Router};
//! use corridor_ipc::{IpcServer, IpcServerConfig};
//! let config = IpcServerConfig::new("/run/mydaemon/ipc.sock".parse().unwrap(), me, clients);
//! let router = Router::new().handle(1, |call: Call, _: ()| async move {
//!     let uid = call.peer().connection.unix.map(|c| c.uid);
//!     Ok::<_, Failure>(serde_json::json!({ "you": uid }))
//! });
//! let server = IpcServer::bind(config).await?;
//! let options = corridor::SessionOptions::default().with_router(router);
//! server.serve(options, |session| async move { session.closed().await }).await;
//! # Ok(()) }
//! ```

pub mod client;
pub mod hashes;
pub mod policy;
pub mod server;
pub mod socket;

pub use client::{IpcClientConfig, IpcClientTls, connect};
pub use policy::{PeerPolicy, Refusal};
pub use server::{IpcServer, IpcServerConfig, IpcServerHandle, IpcStats};
pub use socket::{IpcAddr, SocketError};

/// The channel id both ends bind into the handshake.
pub const CHANNEL_ID: &str = "corridor-ipc";

/// What goes wrong serving or calling over IPC.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IpcError {
    /// The socket address cannot be used.
    #[error(transparent)]
    Socket(#[from] SocketError),
    /// Binding failed (a live server holds the name, say).
    #[error("bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// What failed.
        source: std::io::Error,
    },
    /// Connecting failed.
    #[error("connect {addr}: {source}")]
    Connect {
        /// The address.
        addr: String,
        /// What failed.
        source: std::io::Error,
    },
    /// The server process runs as another user than expected.
    #[error("the server runs as uid {found:?}, not {expected}")]
    ServerUid {
        /// The uid required.
        expected: u32,
        /// The uid found.
        found: Option<u32>,
    },
    /// The client process failed the peer checks.
    #[error("refused: {0}")]
    Refused(Refusal),
    /// The handshake failed (an unlisted or wrong key, a closed connection).
    #[error(transparent)]
    Handshake(corridor::Error),
    /// Connecting and the handshake took longer than allowed.
    #[error("connecting timed out")]
    Timeout,
    /// The check task ended unexpectedly.
    #[error("the peer check did not finish")]
    Closed,
    /// TLS material did not load, or the TLS handshake failed (a
    /// certificate from another CA, none where one is required).
    #[error("tls: {0}")]
    Tls(String),
    /// The configuration cannot work.
    #[error("configuration: {0}")]
    Config(String),
}

impl IpcError {
    /// A stable snake_case name for logs and counters.
    pub fn reason(&self) -> &'static str {
        match self {
            IpcError::Socket(_) => "socket",
            IpcError::Bind { .. } => "bind_failed",
            IpcError::Connect { .. } => "connect_failed",
            IpcError::ServerUid { .. } => "server_uid",
            IpcError::Refused(refusal) => refusal.reason(),
            IpcError::Handshake(error) => error.reason(),
            IpcError::Timeout => "timeout",
            IpcError::Closed => "closed",
            IpcError::Tls(_) => "tls_failed",
            IpcError::Config(_) => "config",
        }
    }
}
