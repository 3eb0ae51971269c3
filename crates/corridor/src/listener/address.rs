//! Where a listener listens: a TCP address, a Unix socket path, a Linux
//! abstract socket name, or a Windows named pipe, written as
//! `127.0.0.1:9000`, `unix:/run/x.sock` (or any absolute path), `@name`,
//! and `\\.\pipe\name`.
//!
//! Binding a path whose socket file exists probes it first: a live server
//! answers and is left alone (`AddrInUse`); a file nobody answers on is the
//! remains of a crashed server and is replaced. Anyone may bind an abstract
//! name first: a service there must authenticate its peers (the noise and
//! tls suites do), not trust the name.

use std::net::SocketAddr;
use std::path::PathBuf;

/// A listening address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BindAddr {
    /// TCP.
    Tcp(SocketAddr),
    /// A Unix socket at a path.
    UnixPath(PathBuf),
    /// A Linux abstract-namespace Unix socket.
    UnixAbstract(Vec<u8>),
    /// A Windows named pipe (`\\.\pipe\NAME`, the whole name).
    Pipe(String),
}

/// What every Windows named pipe's name starts with.
pub const PIPE_PREFIX: &str = r"\\.\pipe\";

impl std::str::FromStr for BindAddr {
    type Err = String;

    /// ```
    /// use corridor::listener::BindAddr;
    /// assert!(matches!("127.0.0.1:9000".parse(), Ok(BindAddr::Tcp(_))));
    /// assert!(matches!("unix:/run/corridor.sock".parse(), Ok(BindAddr::UnixPath(_))));
    /// assert_eq!("@corridor".parse(), Ok(BindAddr::UnixAbstract(b"corridor".to_vec())));
    /// assert_eq!(r"\\.\pipe\corridor".parse(), Ok(BindAddr::Pipe(r"\\.\pipe\corridor".into())));
    /// ```
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Some(name) = text.strip_prefix('@') {
            if name.is_empty() || name.len() > 100 {
                return Err("an abstract socket name is 1 to 100 bytes after @".into());
            }
            return Ok(BindAddr::UnixAbstract(name.as_bytes().to_vec()));
        }
        if text.starts_with(PIPE_PREFIX) {
            return Ok(BindAddr::Pipe(text.to_owned()));
        }
        if let Some(path) = text.strip_prefix("unix:") {
            return Ok(BindAddr::UnixPath(path.into()));
        }
        if text.starts_with('/') || text.starts_with("./") {
            return Ok(BindAddr::UnixPath(text.into()));
        }
        text.parse()
            .map(BindAddr::Tcp)
            .map_err(|_| format!("{text:?} is not host:port, unix:PATH or @name"))
    }
}

impl std::fmt::Display for BindAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BindAddr::Tcp(addr) => write!(f, "{addr}"),
            BindAddr::UnixPath(path) => write!(f, "unix:{}", path.display()),
            BindAddr::UnixAbstract(name) => write!(f, "@{}", String::from_utf8_lossy(name)),
            BindAddr::Pipe(name) => f.write_str(name),
        }
    }
}

/// A bound socket of either family.
pub(crate) enum Socket {
    Tcp(tokio::net::TcpListener),
    #[cfg(unix)]
    Unix(tokio::net::UnixListener),
    #[cfg(windows)]
    Pipe(super::pipe::PipeListener),
}

impl BindAddr {
    pub(crate) async fn bind(&self) -> std::io::Result<Socket> {
        match self {
            BindAddr::Tcp(addr) => Ok(Socket::Tcp(tokio::net::TcpListener::bind(addr).await?)),
            #[cfg(unix)]
            BindAddr::UnixPath(path) => bind_path(path).await,
            #[cfg(target_os = "linux")]
            BindAddr::UnixAbstract(name) => {
                use std::os::linux::net::SocketAddrExt as _;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                let listener = std::os::unix::net::UnixListener::bind_addr(&addr)?;
                listener.set_nonblocking(true)?;
                Ok(Socket::Unix(tokio::net::UnixListener::from_std(listener)?))
            }
            #[cfg(windows)]
            BindAddr::Pipe(name) => Ok(Socket::Pipe(super::pipe::PipeListener::bind(name)?)),
            #[allow(unreachable_patterns)]
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                format!("{self} is not supported on this platform"),
            )),
        }
    }
}

impl BindAddr {
    /// Connects to a listener at this address, as a client does.
    pub async fn connect(&self) -> std::io::Result<crate::carrier::Connection> {
        match self {
            BindAddr::Tcp(addr) => Ok(tokio::net::TcpStream::connect(addr).await?.into()),
            #[cfg(unix)]
            BindAddr::UnixPath(path) => Ok(tokio::net::UnixStream::connect(path).await?.into()),
            #[cfg(target_os = "linux")]
            BindAddr::UnixAbstract(name) => {
                use std::os::linux::net::SocketAddrExt as _;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                // A local connect does not wait on the network: it completes
                // or fails at once, so the blocking call is brief.
                let stream = std::os::unix::net::UnixStream::connect_addr(&addr)?;
                stream.set_nonblocking(true)?;
                Ok(tokio::net::UnixStream::from_std(stream)?.into())
            }
            #[cfg(windows)]
            BindAddr::Pipe(name) => {
                let client = super::pipe::connect(name).await?;
                let info = crate::peer::ConnectionInfo {
                    remote: Some(crate::peer::Address::Pipe(name.clone())),
                    ..Default::default()
                };
                Ok(crate::carrier::Connection::new(Box::new(client), info))
            }
            #[allow(unreachable_patterns)]
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                format!("{self} is not supported on this platform"),
            )),
        }
    }
}

#[cfg(unix)]
async fn bind_path(path: &std::path::Path) -> std::io::Result<Socket> {
    match tokio::net::UnixListener::bind(path) {
        Ok(listener) => Ok(Socket::Unix(listener)),
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => {
            // Someone answering there is a live server: never take its name.
            if tokio::net::UnixStream::connect(path).await.is_ok() {
                return Err(error);
            }
            // Only a socket file is a stale server's; anything else stays.
            use std::os::unix::fs::FileTypeExt as _;
            if !std::fs::symlink_metadata(path)?.file_type().is_socket() {
                return Err(error);
            }
            std::fs::remove_file(path)?;
            Ok(Socket::Unix(tokio::net::UnixListener::bind(path)?))
        }
        Err(error) => Err(error),
    }
}
