//! The IPC client: connects to the socket, optionally checks that the
//! server process runs as the expected user, and runs the Noise handshake
//! with the server's key pinned, so it knows it reached the real server;
//! or, with a PKI, mutual TLS first, the server's certificate checked
//! against the CA and this client's presented.

use crate::socket::IpcAddr;
use crate::{CHANNEL_ID, IpcError};
use corridor::credential::NoiseCredential;
use corridor::{Client, Session, SessionOptions};
use corridor_core::identity::{PublicKey, StaticSecret};
use std::sync::Arc;
use std::time::Duration;

/// What an IPC client connects with.
#[derive(Clone, Debug)]
pub struct IpcClientConfig {
    /// The server's socket.
    pub addr: IpcAddr,
    /// This client's static key (on the server's allowlist).
    pub identity: StaticSecret,
    /// The server's public key; `None` only with `tls`, whose certificate
    /// check then identifies the server.
    pub server_key: Option<PublicKey>,
    /// Mutual TLS before the handshake.
    pub tls: Option<IpcClientTls>,
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
            server_key: Some(server_key),
            tls: None,
            server_uid: None,
            timeout: Duration::from_secs(10),
        }
    }

    /// A client of the server at `addr` that authenticates by mutual TLS
    /// (its Noise key is a fresh one: the certificate is the credential).
    ///
    /// ```no_run
    /// # fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// use corridor::tls::{PkiDir, load_client_config};
    /// use corridor_ipc::{IpcClientConfig, IpcClientTls};
    /// let pki = PkiDir::new(std::path::Path::new("/etc/mydaemon/pki"));
    /// let config = load_client_config(&pki.ca, Some((&pki.client_cert, &pki.client_key)))?;
    /// let tls = IpcClientTls { config, server_name: "corridor-ipc".into() };
    /// let _client = IpcClientConfig::mutual_tls("/run/mydaemon/ipc.sock".parse()?, tls);
    /// # Ok(()) }
    /// ```
    pub fn mutual_tls(addr: IpcAddr, tls: IpcClientTls) -> Self {
        IpcClientConfig {
            addr,
            identity: StaticSecret::generate(&mut rand_core::OsRng),
            server_key: None,
            tls: Some(tls),
            server_uid: None,
            timeout: Duration::from_secs(10),
        }
    }
}

/// A client's TLS: whom it trusts and what it presents
/// (`corridor::tls::load_client_config`), and the name the server's
/// certificate must carry.
#[derive(Clone, Debug)]
pub struct IpcClientTls {
    /// The rustls client configuration.
    pub config: Arc<rustls::ClientConfig>,
    /// The server name to check its certificate for.
    pub server_name: String,
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
    let mut connection = addr.connect().await.map_err(|source| IpcError::Connect {
        addr: config.addr.to_string(),
        source,
    })?;
    if let Some(expected) = config.server_uid {
        let found = connection.info.unix.map(|credentials| credentials.uid);
        if found != Some(expected) {
            return Err(IpcError::ServerUid { expected, found });
        }
    }
    if let Some(tls) = &config.tls {
        connection =
            corridor::tls::client_handshake(connection, tls.config.clone(), &tls.server_name)
                .await
                .map_err(|error| IpcError::Tls(error.to_string()))?;
    }
    let credential = match (config.server_key, &config.tls) {
        (Some(key), _) => NoiseCredential::ik(config.identity.clone(), key, CHANNEL_ID),
        (None, Some(_)) => NoiseCredential::xx(config.identity.clone(), CHANNEL_ID),
        (None, None) => {
            return Err(IpcError::Config(
                "neither the server's key nor TLS: nothing would identify the server".into(),
            ));
        }
    };
    Client::connect_framed(connection, credential, options)
        .await
        .map_err(IpcError::Handshake)
}
