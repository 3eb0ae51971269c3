//! Records on a byte stream (TCP, a Unix socket, TLS over either): each
//! record behind its length as a u32 BE, up to the record limit. The framing
//! is tokio-util's `LengthDelimitedCodec`; a length over the limit is the
//! carrier's `record_too_large`.

use super::ByteIo;
use crate::error::CarrierError;
use bytes::{Bytes, BytesMut};
use futures_util::{Sink, Stream};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// A byte stream carrying length-prefixed records.
pub struct FramedRecords {
    inner: Framed<Box<dyn ByteIo>, LengthDelimitedCodec>,
}

impl std::fmt::Debug for FramedRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FramedRecords")
    }
}

impl FramedRecords {
    /// Frames `io`, refusing records over `max_record_bytes`.
    ///
    /// ```
    /// use corridor::carrier::framed::FramedRecords;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let (a, b) = tokio::io::duplex(1 << 16);
    /// let (mut a, mut b) = (FramedRecords::new(Box::new(a), 1 << 20), FramedRecords::new(Box::new(b), 1 << 20));
    /// use futures_util::{SinkExt, StreamExt};
    /// a.send(bytes::Bytes::from_static(b"record")).await.unwrap();
    /// assert_eq!(&b.next().await.unwrap().unwrap()[..], b"record");
    /// # });
    /// ```
    pub fn new(io: Box<dyn ByteIo>, max_record_bytes: usize) -> FramedRecords {
        let codec = LengthDelimitedCodec::builder()
            .length_field_length(4)
            .max_frame_length(max_record_bytes)
            .new_codec();
        FramedRecords {
            inner: Framed::new(io, codec),
        }
    }
}

impl Stream for FramedRecords {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = ready!(Pin::new(&mut self.inner).poll_next(cx));
        Poll::Ready(next.map(|frame| match frame {
            Ok(record) => Ok(BytesMut::freeze(record)),
            // The codec's only InvalidData is a length over the limit.
            Err(error) if error.kind() == std::io::ErrorKind::InvalidData => {
                Err(CarrierError::io("record_too_large"))
            }
            Err(error) => Err(error),
        }))
    }
}

impl Sink<Bytes> for FramedRecords {
    type Error = std::io::Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Sink::<Bytes>::poll_ready(Pin::new(&mut self.inner), cx)
    }

    fn start_send(mut self: Pin<&mut Self>, record: Bytes) -> std::io::Result<()> {
        Pin::new(&mut self.inner).start_send(record)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Sink::<Bytes>::poll_flush(Pin::new(&mut self.inner), cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Sink::<Bytes>::poll_close(Pin::new(&mut self.inner), cx)
    }
}
