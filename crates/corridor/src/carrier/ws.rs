//! The WebSocket carrier (tokio-tungstenite): dialling ws:// and wss:// URLs
//! (TLS by rustls), accepting upgrades, and mapping one binary message to one
//! record. A text message where a record belongs is an error; a close frame
//! ends the stream and its code and reason reach the caller as [`PeerClosed`].

use super::ByteIo;
use crate::error::{CarrierError, Error, PeerClosed};
use bytes::Bytes;
use futures_util::{Sink, Stream};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

/// How to dial a WebSocket.
#[derive(Clone, Debug)]
pub struct WsOptions {
    /// Sent as the `Origin` header (relays may require one).
    pub origin: Option<String>,
    /// Bound on TCP connect, TLS and the upgrade together.
    pub connect_timeout: Duration,
    /// Largest message accepted: the record limit.
    pub max_message_bytes: usize,
    /// TLS settings for wss://; `None` uses the webpki root store.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Default for WsOptions {
    fn default() -> Self {
        WsOptions {
            origin: None,
            connect_timeout: Duration::from_secs(10),
            max_message_bytes: corridor_core::fsec1::DEFAULT_MAX_RECORD_BYTES,
            tls: None,
        }
    }
}

/// tungstenite zero-fills its whole read window before every socket read, so
/// a window larger than what one read returns is wasted work: 64 KiB gave
/// 1.06x the single-stream throughput of the 128 KiB default and 1.17x that
/// of 256 KiB (`endpoint_load -- profile-stream`), and keeps 64 KiB less
/// per connection.
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// The WebSocket settings of every corridor socket: explicit size limits.
pub fn ws_config(max_message_bytes: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(Some(max_message_bytes))
        .max_frame_size(Some(max_message_bytes))
}

/// A WebSocket carrying records.
pub struct WsRecords {
    inner: WebSocketStream<Box<dyn ByteIo>>,
}

impl std::fmt::Debug for WsRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WsRecords")
    }
}

impl WsRecords {
    /// Wraps an upgraded WebSocket.
    pub fn new(inner: WebSocketStream<Box<dyn ByteIo>>) -> WsRecords {
        WsRecords { inner }
    }

    /// Sends one text message (the relay attach) before any record.
    pub async fn send_text(&mut self, text: String) -> Result<(), Error> {
        use futures_util::SinkExt;
        self.inner
            .send(Message::text(text))
            .await
            .map_err(|error| Error::WebSocket(error.to_string()))
    }

    /// Answers a WebSocket upgrade on an accepted byte stream.
    pub async fn accept(io: Box<dyn ByteIo>, max_message_bytes: usize) -> Result<WsRecords, Error> {
        let ws =
            tokio_tungstenite::accept_async_with_config(io, Some(ws_config(max_message_bytes)))
                .await
                .map_err(|error| Error::WebSocket(error.to_string()))?;
        Ok(WsRecords::new(ws))
    }

    /// Dials `url` (ws:// or wss://) and upgrades.
    pub async fn connect(url: &str, options: &WsOptions) -> Result<WsRecords, Error> {
        tokio::time::timeout(options.connect_timeout, Self::connect_inner(url, options))
            .await
            .map_err(|_| Error::Timeout("connect"))?
    }

    async fn connect_inner(url: &str, options: &WsOptions) -> Result<WsRecords, Error> {
        let mut request = url
            .into_client_request()
            .map_err(|_| Error::InvalidUrl(url.to_owned()))?;
        if let Some(origin) = &options.origin {
            let value = origin
                .parse()
                .map_err(|_| Error::InvalidUrl(format!("origin {origin}")))?;
            request.headers_mut().insert("Origin", value);
        }
        let uri = request.uri().clone();
        let secure = match uri.scheme_str() {
            Some("ws") => false,
            Some("wss") => true,
            _ => return Err(Error::InvalidUrl(url.to_owned())),
        };
        let host = uri
            .host()
            .ok_or_else(|| Error::InvalidUrl(url.to_owned()))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let connect_error = |source| Error::Connect {
            url: url.to_owned(),
            source,
        };
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(connect_error)?;
        // Records are written whole; Nagle would hold the small ones back.
        tcp.set_nodelay(true).map_err(connect_error)?;
        let io: Box<dyn ByteIo> = if secure {
            let config = options.tls.clone().unwrap_or_else(default_tls);
            let name = rustls_pki_types::ServerName::try_from(host.clone())
                .map_err(|_| Error::InvalidUrl(url.to_owned()))?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(connect_error)?;
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        let (ws, _) = tokio_tungstenite::client_async_with_config(
            request,
            io,
            Some(ws_config(options.max_message_bytes)),
        )
        .await
        .map_err(|error| Error::WebSocket(error.to_string()))?;
        Ok(WsRecords::new(ws))
    }
}

fn default_tls() -> Arc<rustls::ClientConfig> {
    let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth());
    // ring supports the default protocol versions; fall back to an empty store otherwise.
    Arc::new(config.unwrap_or_else(|_| {
        rustls::ClientConfig::builder()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
    }))
}

fn to_io(error: tungstenite::Error) -> std::io::Error {
    match error {
        tungstenite::Error::Io(error) => error,
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            std::io::ErrorKind::UnexpectedEof.into()
        }
        tungstenite::Error::Capacity(_) => CarrierError::io("record_too_large"),
        other => std::io::Error::new(std::io::ErrorKind::InvalidData, other.to_string()),
    }
}

impl Stream for WsRecords {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let message = match ready!(Pin::new(&mut self.inner).poll_next(cx)) {
                None => return Poll::Ready(None),
                Some(Err(
                    tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed,
                )) => {
                    return Poll::Ready(None);
                }
                Some(Err(error)) => return Poll::Ready(Some(Err(to_io(error)))),
                Some(Ok(message)) => message,
            };
            match message {
                Message::Binary(bytes) => return Poll::Ready(Some(Ok(bytes))),
                Message::Text(_) => {
                    return Poll::Ready(Some(Err(CarrierError::io("non_binary_frame"))));
                }
                Message::Close(Some(frame)) if u16::from(frame.code) != 1000 => {
                    let closed = PeerClosed {
                        code: frame.code.into(),
                        reason: frame.reason.to_string(),
                    };
                    return Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        closed,
                    ))));
                }
                Message::Close(_) => return Poll::Ready(None),
                // tungstenite answers pings itself.
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            }
        }
    }
}

impl Sink<Bytes> for WsRecords {
    type Error = std::io::Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_ready(cx).map_err(to_io)
    }

    fn start_send(mut self: Pin<&mut Self>, record: Bytes) -> std::io::Result<()> {
        Pin::new(&mut self.inner)
            .start_send(Message::Binary(record))
            .map_err(to_io)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx).map_err(to_io)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx).map_err(to_io)
    }
}
