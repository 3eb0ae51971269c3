//! Who is on the other end of a session: the identity its handshake proved,
//! and what the connection itself shows (addresses, the Unix peer's
//! credentials, TLS details). Carriers record the connection's facts when
//! they connect or accept; the secure layer adds the proven identity.

use corridor_core::suite::{PeerIdentity, SuiteName};
use std::any::Any;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// A session's peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Who the handshake proved the peer to be.
    pub identity: PeerIdentity,
    /// The suite that proved it.
    pub suite: SuiteName,
    /// What the peer sent in the handshake (Noise only; empty otherwise).
    pub handshake_payload: Vec<u8>,
    /// What the connection shows.
    pub connection: ConnectionInfo,
    /// What the endpoint's [`Authorizer`](crate::credential::Authorizer)
    /// learned when it admitted the peer (see [`Peer::attached`]).
    pub attachment: Option<Attachment>,
}

impl Peer {
    /// The attachment, if the authorizer attached a `T`.
    pub fn attached<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.attachment.as_ref()?.get()
    }
}

/// Anything an authorizer attaches to a peer: an account, a role.
///
/// ```
/// use corridor::peer::Attachment;
/// let attachment = Attachment::new("alice".to_owned());
/// assert_eq!(attachment.get::<String>().map(String::as_str), Some("alice"));
/// assert!(attachment.get::<u32>().is_none());
/// ```
#[derive(Clone)]
pub struct Attachment(Arc<dyn Any + Send + Sync>);

impl Attachment {
    /// Wraps `value`.
    pub fn new<T: Any + Send + Sync>(value: T) -> Attachment {
        Attachment(Arc::new(value))
    }

    /// The value, if it is a `T`.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Attachment(..)")
    }
}

/// Two attachments are equal when they are the same value (one admission).
impl PartialEq for Attachment {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Attachment {}

/// The facts of one connection, as far as its carrier knows them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The peer's address.
    pub remote: Option<Address>,
    /// This side's address.
    pub local: Option<Address>,
    /// The peer process's credentials, on a Unix socket.
    pub unix: Option<UnixCredentials>,
    /// What TLS showed, when the carrier ran over TLS.
    pub tls: Option<TlsInfo>,
    /// The peer's `Origin` header, on an accepted WebSocket.
    pub origin: Option<String>,
    /// The Unix peer's process, held by a pidfd (Linux).
    #[cfg(target_os = "linux")]
    pub process: Option<crate::process::PeerProcess>,
}

impl ConnectionInfo {
    /// The facts of a TCP connection.
    pub fn tcp(stream: &tokio::net::TcpStream) -> ConnectionInfo {
        ConnectionInfo {
            remote: stream.peer_addr().ok().map(Address::Tcp),
            local: stream.local_addr().ok().map(Address::Tcp),
            ..ConnectionInfo::default()
        }
    }

    /// The facts of a Unix socket connection, with the peer's credentials.
    #[cfg(unix)]
    pub fn unix(stream: &tokio::net::UnixStream) -> ConnectionInfo {
        ConnectionInfo {
            remote: stream
                .peer_addr()
                .ok()
                .map(|addr| Address::from_unix(&addr)),
            local: stream
                .local_addr()
                .ok()
                .map(|addr| Address::from_unix(&addr)),
            unix: stream.peer_cred().ok().map(|cred| UnixCredentials {
                uid: cred.uid(),
                gid: cred.gid(),
                pid: cred.pid(),
            }),
            #[cfg(target_os = "linux")]
            process: crate::process::PeerProcess::of_socket(stream).ok(),
            ..ConnectionInfo::default()
        }
    }
}

/// Where a connection ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A Unix socket at a filesystem path.
    UnixPath(PathBuf),
    /// A Linux abstract-namespace Unix socket (`@name`).
    UnixAbstract(Vec<u8>),
    /// An unnamed Unix socket (a client that did not bind).
    UnixUnnamed,
    /// A Windows named pipe.
    Pipe(String),
}

impl Address {
    #[cfg(unix)]
    fn from_unix(addr: &tokio::net::unix::SocketAddr) -> Address {
        if let Some(path) = addr.as_pathname() {
            return Address::UnixPath(path.to_owned());
        }
        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::SocketAddrExt as _;
            let std_addr: std::os::unix::net::SocketAddr = addr.clone().into();
            if let Some(name) = std_addr.as_abstract_name() {
                return Address::UnixAbstract(name.to_vec());
            }
        }
        Address::UnixUnnamed
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Tcp(addr) => write!(f, "{addr}"),
            Address::UnixPath(path) => write!(f, "{}", path.display()),
            Address::UnixAbstract(name) => write!(f, "@{}", String::from_utf8_lossy(name)),
            Address::UnixUnnamed => f.write_str("(unnamed unix socket)"),
            Address::Pipe(name) => f.write_str(name),
        }
    }
}

/// The credentials the kernel reports for a Unix socket's peer process
/// (`SO_PEERCRED`): what it was when it connected, not a claim it made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnixCredentials {
    /// Effective user id.
    pub uid: u32,
    /// Effective group id.
    pub gid: u32,
    /// Process id, where the platform reports it.
    pub pid: Option<i32>,
}

/// What a TLS carrier showed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsInfo {
    /// The server name the client asked for (SNI).
    pub server_name: Option<String>,
    /// The client's certificate chain (DER), leaf first, when it presented
    /// one that the server's verifier accepted.
    pub client_certificates: Vec<Vec<u8>>,
}
