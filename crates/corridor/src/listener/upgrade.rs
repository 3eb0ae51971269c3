//! Answering a WebSocket upgrade inside a hyper service (the relay, the
//! control plane and the ingress proxy's API take upgrades beside plain
//! requests on one port). tungstenite's own server handshake cannot share
//! a port with hyper's routes, so the few checks of RFC 6455 section 4.2.1
//! are made here, once, with a stable reason for each refusal.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::upgrade::OnUpgrade;
use hyper::{Method, Request, Response, StatusCode};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// Why a request is not an acceptable WebSocket upgrade.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UpgradeRefusal {
    /// No `Connection: upgrade`.
    #[error("no Connection: upgrade")]
    MissingConnectionUpgrade,
    /// No `Upgrade: websocket`.
    #[error("no Upgrade: websocket")]
    MissingUpgradeWebsocket,
    /// Not a GET.
    #[error("an upgrade must be a GET")]
    MethodNotGet,
    /// `Sec-WebSocket-Version` is not 13.
    #[error("unsupported WebSocket version")]
    UnsupportedVersion,
    /// The `Origin` (a browser's page) is not allowed.
    #[error("origin not allowed")]
    OriginNotAllowed,
    /// `Sec-WebSocket-Key` is not 16 bytes in base64.
    #[error("bad Sec-WebSocket-Key")]
    BadKey,
}

impl UpgradeRefusal {
    /// A stable snake_case name for logs and counters.
    pub fn reason(self) -> &'static str {
        match self {
            UpgradeRefusal::MissingConnectionUpgrade => "missing_connection_upgrade",
            UpgradeRefusal::MissingUpgradeWebsocket => "missing_upgrade_websocket",
            UpgradeRefusal::MethodNotGet => "method_not_get",
            UpgradeRefusal::UnsupportedVersion => "unsupported_version",
            UpgradeRefusal::OriginNotAllowed => "origin_not_allowed",
            UpgradeRefusal::BadKey => "bad_websocket_key",
        }
    }

    /// The status to answer with.
    pub fn status(self) -> StatusCode {
        match self {
            UpgradeRefusal::MethodNotGet => StatusCode::METHOD_NOT_ALLOWED,
            UpgradeRefusal::OriginNotAllowed => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// Whether a comma-separated header holds `token` (any case).
pub fn header_has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value.to_str().is_ok_and(|value| {
            value
                .split(',')
                .any(|part| part.trim().eq_ignore_ascii_case(token))
        })
    })
}

/// The checks of an upgrade request, in the order gorilla/websocket (and
/// so flowersec's Go relay) makes them; `origin_allowed` judges the
/// `Origin` header (absent for clients that are not browsers; a header that
/// is not text is passed as U+FFFD, which no list holds).
pub fn check_websocket_upgrade<B>(
    req: &Request<B>,
    origin_allowed: impl FnOnce(Option<&str>) -> bool,
) -> Result<(), UpgradeRefusal> {
    let headers = req.headers();
    if !header_has_token(headers, header::CONNECTION, "upgrade") {
        return Err(UpgradeRefusal::MissingConnectionUpgrade);
    }
    if !header_has_token(headers, header::UPGRADE, "websocket") {
        return Err(UpgradeRefusal::MissingUpgradeWebsocket);
    }
    if req.method() != Method::GET {
        return Err(UpgradeRefusal::MethodNotGet);
    }
    if !header_has_token(headers, header::SEC_WEBSOCKET_VERSION, "13") {
        return Err(UpgradeRefusal::UnsupportedVersion);
    }
    let origin = headers
        .get(header::ORIGIN)
        .map(|value| value.to_str().unwrap_or("\u{fffd}"));
    if !origin_allowed(origin) {
        return Err(UpgradeRefusal::OriginNotAllowed);
    }
    let key_ok = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|key| corridor_core::b64::decode_std(key.as_bytes()))
        .is_some_and(|raw| raw.len() == 16);
    if !key_ok {
        return Err(UpgradeRefusal::BadKey);
    }
    Ok(())
}

/// Accepts a checked upgrade (see [`check_websocket_upgrade`]): the `101`
/// answer to return from the service, and the connection it becomes once
/// hyper has written that answer. `protocol` is echoed as
/// `Sec-WebSocket-Protocol` when given.
///
/// ```no_run
/// # async fn handle(mut req: hyper::Request<hyper::body::Incoming>) -> hyper::Response<http_body_util::Full<bytes::Bytes>> {
/// use corridor::listener::upgrade::{accept_websocket, check_websocket_upgrade};
/// if let Err(refusal) = check_websocket_upgrade(&req, |origin| origin.is_none()) {
///     let mut answer = hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from(refusal.reason())));
///     *answer.status_mut() = refusal.status();
///     return answer;
/// }
/// let (answer, upgrade) = accept_websocket(&mut req, None);
/// tokio::spawn(async move {
///     if let Ok(upgraded) = upgrade.await {
///         let io = hyper_util::rt::TokioIo::new(upgraded);
///         let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
///             io, tokio_tungstenite::tungstenite::protocol::Role::Server, None).await;
///         // ... read and write messages on `ws`
///     }
/// });
/// answer
/// # }
/// ```
pub fn accept_websocket<B>(
    req: &mut Request<B>,
    protocol: Option<&'static str>,
) -> (Response<Full<Bytes>>, OnUpgrade) {
    let accept = req
        .headers()
        .get(header::SEC_WEBSOCKET_KEY)
        .map(|key| derive_accept_key(key.as_bytes()));
    let on_upgrade = hyper::upgrade::on(req);
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Some(accept) = accept.and_then(|accept| HeaderValue::from_str(&accept).ok()) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    if let Some(protocol) = protocol {
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(protocol),
        );
    }
    (response, on_upgrade)
}
