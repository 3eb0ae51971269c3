//! The WebSocket carrier (tokio-tungstenite): dialling ws:// and wss:// URLs
//! (TLS by rustls), accepting upgrades, and mapping one binary message to one
//! record. A text message where a record belongs is an error; a close frame
//! ends the stream and its code and reason reach the caller as [`PeerClosed`].

use super::read_ahead::{ReadAhead, ReadAheadBudget};
use super::{ByteIo, Connection};
use crate::error::{CarrierError, Error, PeerClosed};
use crate::origin::OriginPolicy;
use crate::peer::ConnectionInfo;
use bytes::Bytes;
use corridor_core::negotiate;
use corridor_core::suite::SuiteName;
use futures_util::{Sink, Stream};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode, header};
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};

/// The response header naming the suites a server accepts, on a refused upgrade.
const SUITES_HEADER: &str = "x-corridor-suites";

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
    /// Which `Origin`s an accepted WebSocket may come from. The default
    /// admits clients that send none (programs such as `corridor call`)
    /// and refuses every browser origin: browsers need an allow list.
    pub allowed_origins: OriginPolicy,
    /// The read-ahead memory this connection shares with others (see
    /// [`read_ahead`](super::read_ahead)); by default the process's 64 MiB.
    pub read_ahead: ReadAheadBudget,
}

impl Default for WsOptions {
    fn default() -> Self {
        WsOptions {
            origin: None,
            connect_timeout: Duration::from_secs(10),
            max_message_bytes: corridor_core::fsec1::DEFAULT_MAX_RECORD_BYTES,
            tls: None,
            allowed_origins: OriginPolicy {
                allowed: Vec::new(),
                allow_no_origin: true,
            },
            read_ahead: ReadAheadBudget::process_default(),
        }
    }
}

/// tungstenite zero-fills its whole read window before every socket read and
/// keeps it for the connection's life: what every idle connection holds. It
/// stays small; large reads while data flows come from [`ReadAhead`].
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// The largest socket read while data flows: the size tungstenite's own
/// window had before, where it measured best; through the read-ahead one
/// stream moves what it did then (`endpoint_load -- throughput`: 1,560 to
/// 1,633 MiB/s against 1,580 to 1,646).
const READ_AHEAD_BYTES: usize = 64 * 1024;

/// The WebSocket settings of every corridor socket: explicit size limits.
fn ws_config(max_message_bytes: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(Some(max_message_bytes))
        .max_frame_size(Some(max_message_bytes))
}

/// The byte stream under every corridor WebSocket.
type Socket = ReadAhead<Box<dyn ByteIo>>;

fn read_ahead(io: Box<dyn ByteIo>, options: &WsOptions) -> Socket {
    ReadAhead::new(io, READ_AHEAD_BYTES, options.read_ahead.clone())
}

/// A WebSocket carrying records.
pub struct WsRecords {
    inner: WebSocketStream<Socket>,
}

impl std::fmt::Debug for WsRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WsRecords")
    }
}

impl WsRecords {
    /// Carries records on a connection that the caller's HTTP server has
    /// already upgraded (it answered 101), as the server side.
    pub async fn upgraded(io: Box<dyn ByteIo>, options: &WsOptions) -> WsRecords {
        let config = ws_config(options.max_message_bytes);
        let inner =
            WebSocketStream::from_raw_socket(read_ahead(io, options), Role::Server, Some(config))
                .await;
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

    /// Answers a WebSocket upgrade on an accepted byte stream, for fsec1 alone.
    pub async fn accept(io: Box<dyn ByteIo>, max_message_bytes: usize) -> Result<WsRecords, Error> {
        let connection = Connection::new(io, ConnectionInfo::default());
        let options = WsOptions {
            max_message_bytes,
            ..WsOptions::default()
        };
        let (records, _, _) =
            Self::accept_suites(connection, &[SuiteName::Fsec1], &options).await?;
        Ok(records)
    }

    /// Answers a WebSocket upgrade, choosing the first suite the client's
    /// `Sec-WebSocket-Protocol` offers (fsec1 without one) that is among
    /// `accepted`. A client offering none of them gets 400 with the accepted
    /// names in `x-corridor-suites`; an `Origin` that `options` does not
    /// allow gets 403. Returns the carrier, the suite, and the connection's
    /// facts with the client's `Origin`.
    pub async fn accept_suites(
        connection: Connection,
        accepted: &[SuiteName],
        options: &WsOptions,
    ) -> Result<(WsRecords, SuiteName, ConnectionInfo), Error> {
        let Connection {
            io,
            mut info,
            progress,
        } = connection;
        let mut chosen = None;
        let mut offered = None;
        let mut origin = None;
        let mut origin_refused = false;
        // The error type is tungstenite's own, in its callback's signature.
        #[allow(clippy::result_large_err)]
        let callback = |request: &Request, mut response: Response| {
            progress.complete();
            let headers = request.headers();
            origin = headers.get(header::ORIGIN).map(|value| {
                // Not text: matched as a value no entry can equal.
                value.to_str().unwrap_or("\u{fffd}").to_owned()
            });
            if !options.allowed_origins.allows(origin.as_deref()) {
                origin_refused = true;
                return Err(status_response(
                    StatusCode::FORBIDDEN,
                    "origin not allowed\n",
                ));
            }
            let protocols = headers
                .get(header::SEC_WEBSOCKET_PROTOCOL)
                .map(|value| value.to_str().unwrap_or(""));
            let suites = negotiate::parse_header(protocols);
            chosen = suites
                .iter()
                .copied()
                .find(|suite| accepted.contains(suite));
            offered = Some(suites);
            match chosen {
                Some(suite) => {
                    if protocols.is_some() {
                        response.headers_mut().insert(
                            header::SEC_WEBSOCKET_PROTOCOL,
                            HeaderValue::from_static(suite.wire_name()),
                        );
                    }
                    Ok(response)
                }
                None => Err(no_common_suite_response(accepted)),
            }
        };
        let accepted_ws = tokio_tungstenite::accept_hdr_async_with_config(
            read_ahead(io, options),
            callback,
            Some(ws_config(options.max_message_bytes)),
        )
        .await;
        let ws = accepted_ws.map_err(|error| match (&offered, chosen) {
            _ if origin_refused => Error::OriginNotAllowed(origin.clone().unwrap_or_default()),
            // The request arrived and offered nothing this endpoint accepts.
            (Some(offered), None) => Error::NoCommonSuite {
                offered: corridor_core::negotiate::wire_names(offered),
                accepted: corridor_core::negotiate::wire_names(accepted),
            },
            _ => Error::WebSocket(error.to_string()),
        })?;
        let suite = chosen.ok_or_else(|| Error::WebSocket("no suite chosen".into()))?;
        info.origin = origin;
        Ok((WsRecords { inner: ws }, suite, info))
    }

    /// Dials `url` (ws:// or wss://) and upgrades, for fsec1 alone.
    pub async fn connect(url: &str, options: &WsOptions) -> Result<WsRecords, Error> {
        let (records, _, _) = Self::connect_suites(url, &[SuiteName::Fsec1], options).await?;
        Ok(records)
    }

    /// Dials `url` and upgrades, offering `suites` (most preferred first) in
    /// `Sec-WebSocket-Protocol`; returns the carrier, the suite the endpoint
    /// chose, and the connection's facts.
    pub async fn connect_suites(
        url: &str,
        suites: &[SuiteName],
        options: &WsOptions,
    ) -> Result<(WsRecords, SuiteName, ConnectionInfo), Error> {
        tokio::time::timeout(
            options.connect_timeout,
            Self::connect_inner(url, suites, options),
        )
        .await
        .map_err(|_| Error::Timeout("connect"))?
    }

    async fn connect_inner(
        url: &str,
        suites: &[SuiteName],
        options: &WsOptions,
    ) -> Result<(WsRecords, SuiteName, ConnectionInfo), Error> {
        let mut request = url
            .into_client_request()
            .map_err(|_| Error::InvalidUrl(url.to_owned()))?;
        if let Some(value) = negotiate::header_value(suites) {
            let value = HeaderValue::from_str(&value)
                .map_err(|_| Error::InvalidUrl(format!("suites {value}")))?;
            request
                .headers_mut()
                .insert(header::SEC_WEBSOCKET_PROTOCOL, value);
        }
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
        let info = ConnectionInfo::tcp(&tcp);
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
        let offered = corridor_core::negotiate::wire_names(suites);
        let (ws, response) = tokio_tungstenite::client_async_with_config(
            request,
            read_ahead(io, options),
            Some(ws_config(options.max_message_bytes)),
        )
        .await
        .map_err(|error| upgrade_error(error, &offered))?;
        let suite = match response.headers().get(header::SEC_WEBSOCKET_PROTOCOL) {
            Some(value) => value
                .to_str()
                .ok()
                .and_then(SuiteName::from_wire_name)
                .filter(|suite| suites.contains(suite))
                .ok_or_else(|| Error::WebSocket("the endpoint chose a suite not offered".into()))?,
            None => SuiteName::Fsec1,
        };
        Ok((WsRecords { inner: ws }, suite, info))
    }
}

/// The 400 an endpoint answers when no offered suite is accepted.
fn status_response(status: StatusCode, body: &str) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(body.to_owned()));
    *response.status_mut() = status;
    response
}

fn no_common_suite_response(accepted: &[SuiteName]) -> ErrorResponse {
    let names = corridor_core::negotiate::wire_names(accepted).join(", ");
    let mut response = status_response(
        StatusCode::BAD_REQUEST,
        &format!("no common suite; accepted: {names}\n"),
    );
    if let Ok(value) = HeaderValue::from_str(&names) {
        response.headers_mut().insert(SUITES_HEADER, value);
    }
    response
}

/// A failed upgrade: the endpoint's refusal of every offered suite is
/// [`Error::NoCommonSuite`], as is an endpoint that ignored the offer.
fn upgrade_error(error: tungstenite::Error, offered: &[String]) -> Error {
    use tungstenite::error::{ProtocolError, SubProtocolError};
    match error {
        tungstenite::Error::Http(response) if response.headers().contains_key(SUITES_HEADER) => {
            let accepted = response.headers()[SUITES_HEADER]
                .to_str()
                .unwrap_or("")
                .split(',')
                .map(|name| name.trim().to_owned())
                .filter(|name| !name.is_empty())
                .collect();
            Error::NoCommonSuite {
                offered: offered.to_vec(),
                accepted,
            }
        }
        tungstenite::Error::Protocol(ProtocolError::SecWebSocketSubProtocolError(
            SubProtocolError::NoSubProtocol,
        )) => Error::NoCommonSuite {
            offered: offered.to_vec(),
            accepted: vec![SuiteName::Fsec1.wire_name().to_owned()],
        },
        other => Error::WebSocket(other.to_string()),
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
