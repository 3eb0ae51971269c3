//! Carriers: what moves records between two endpoints. A carrier is a
//! stream of whole records in and a sink of whole records out; the secure
//! layer above never sees how they are framed. A [`Connection`] is a byte
//! stream with the facts of where it comes from, as a listener accepts it.
//!
//! - [`ws`]: WebSocket (ws:// and wss://), one record per binary message, the
//!   carrier of relay channels and of flowersec's direct connections.
//! - [`framed`]: any byte stream (TCP, Unix socket, TLS), u32-length-prefixed records.
//! - [`read_ahead`]: large socket reads for a WebSocket while data flows and
//!   no buffer while idle.
//! - [`HandshakeProgress`]: how the accepting side tells its acceptor that
//!   the peer's request has arrived.

pub mod framed;
mod progress;
pub mod read_ahead;
pub mod ws;

pub use progress::HandshakeProgress;

use bytes::Bytes;
use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite};

/// A record carrier: whole records in, whole records out.
pub trait RecordIo:
    Stream<Item = std::io::Result<Bytes>> + Sink<Bytes, Error = std::io::Error> + Send + Unpin
{
}

impl<T> RecordIo for T where
    T: Stream<Item = std::io::Result<Bytes>> + Sink<Bytes, Error = std::io::Error> + Send + Unpin
{
}

/// A boxed carrier, as the secure layer holds it.
pub type Records = Box<dyn RecordIo>;

/// A byte stream a carrier can run over: TCP, TLS over TCP, a Unix socket.
pub trait ByteIo: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> ByteIo for T {}

/// An accepted or dialled byte stream and what is known about it.
pub struct Connection {
    /// The bytes.
    pub io: Box<dyn ByteIo>,
    /// Addresses, Unix credentials, TLS details.
    pub info: crate::peer::ConnectionInfo,
    /// The accepting side reports through it that the peer's request has
    /// arrived (its WebSocket upgrade, its preface): when a listener accepted
    /// the connection, a full handshake cap then closes slower handshakes
    /// before this one. Elsewhere it reports to no one.
    pub progress: HandshakeProgress,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// A connection of `io` with `info`.
    pub fn new(io: Box<dyn ByteIo>, info: crate::peer::ConnectionInfo) -> Connection {
        Connection {
            io,
            info,
            progress: Default::default(),
        }
    }
}

impl From<tokio::net::TcpStream> for Connection {
    /// A TCP connection, with Nagle off: records are written whole.
    fn from(stream: tokio::net::TcpStream) -> Self {
        let _ = stream.set_nodelay(true);
        let info = crate::peer::ConnectionInfo::tcp(&stream);
        Connection::new(Box::new(stream), info)
    }
}

#[cfg(unix)]
impl From<tokio::net::UnixStream> for Connection {
    /// A Unix socket connection, with the peer's credentials.
    fn from(stream: tokio::net::UnixStream) -> Self {
        let info = crate::peer::ConnectionInfo::unix(&stream);
        Connection::new(Box::new(stream), info)
    }
}

impl From<Box<dyn ByteIo>> for Connection {
    /// A byte stream nothing is known about.
    fn from(io: Box<dyn ByteIo>) -> Self {
        Connection::new(io, crate::peer::ConnectionInfo::default())
    }
}
