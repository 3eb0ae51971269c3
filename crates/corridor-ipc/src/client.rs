//! The IPC client: connects to the socket, optionally checks that the
//! server process runs as the expected user, and runs the Noise handshake
//! with the server's key pinned, so it knows it reached the real server.

use crate::socket::IpcAddr;
use crate::{CHANNEL_ID, IpcError};
use corridor::credential::NoiseCredential;
use corridor::{Client, Session, SessionOptions};
use corridor_core::identity::{PublicKey, StaticSecret};
use std::time::Duration;

/// What an IPC client connects with.
#[derive(Clone, Debug)]
pub struct IpcClientConfig {
    /// The server's socket.
    pub addr: IpcAddr,
    /// This client's static key (on the server's allowlist).
    pub identity: StaticSecret,
    /// The server's public key.
    pub server_key: PublicKey,
    /// The uid the server process must run as (checked with `SO_PEERCRED`
    /// before the handshake); `None` trusts the key alone.
    pub server_uid: Option<u32>,
    /// Bound on connecting and the handshake together.
    pub timeout: Duration,
}

impl IpcClientConfig {
    /// A client of the server at `addr` whose key is `server_key`.
    pub fn new(addr: IpcAddr, identity: StaticSecret, server_key: PublicKey) -> Self {
        IpcClientConfig {
            addr,
            identity,
            server_key,
            server_uid: None,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Connects and runs the handshake; calls go through `session.rpc()`.
///
/// ```no_run
/// # async fn run(me: corridor::core::identity::StaticSecret, server: corridor::core::identity::PublicKey) -> Result<(), corridor_ipc::IpcError> {
/// use corridor_ipc::{IpcClientConfig, connect};
/// let config = IpcClientConfig::new("/run/mydaemon/ipc.sock".parse().unwrap(), me, server);
/// let session = connect(&config, &corridor::SessionOptions::default()).await?;
/// let status: serde_json::Value = session.rpc().call(1, &()).await.expect("answer");
/// # Ok(()) }
/// ```
pub async fn connect(
    config: &IpcClientConfig,
    options: &SessionOptions,
) -> Result<Session, IpcError> {
    tokio::time::timeout(config.timeout, connect_now(config, options))
        .await
        .map_err(|_| IpcError::Timeout)?
}

async fn connect_now(
    config: &IpcClientConfig,
    options: &SessionOptions,
) -> Result<Session, IpcError> {
    let addr = config.addr.to_bind_addr();
    let connection = addr.connect().await.map_err(|source| IpcError::Connect {
        addr: config.addr.to_string(),
        source,
    })?;
    if let Some(expected) = config.server_uid {
        let found = connection.info.unix.map(|credentials| credentials.uid);
        if found != Some(expected) {
            return Err(IpcError::ServerUid { expected, found });
        }
    }
    let credential = NoiseCredential::ik(config.identity.clone(), config.server_key, CHANNEL_ID);
    Client::connect_framed(connection, credential, options)
        .await
        .map_err(IpcError::Handshake)
}
