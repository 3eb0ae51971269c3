//! Carriers: what moves fsec1 records between two endpoints. A carrier is a
//! stream of whole records in and a sink of whole records out; the secure
//! layer above never sees how they are framed.
//!
//! - [`ws`]: WebSocket (ws:// and wss://), one record per binary message, the
//!   carrier of relay channels and of flowersec's direct connections.
//! - [`framed`]: any byte stream (TCP, Unix socket, TLS), u32-length-prefixed records.

pub mod framed;
pub mod ws;

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
