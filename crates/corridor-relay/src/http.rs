//! The relay's HTTP front door: `/healthz`, `/metrics`, and the WebSocket
//! upgrade on the tunnel path, checked in the order flowersec v1's tunnel
//! (through gorilla/websocket) checks it, with the same statuses.
//!
//! The upgrade is done here on hyper rather than through a framework so that
//! the relay owns the WebSocket configuration and the one tungstenite version
//! in the tree, and so that rejections before the upgrade are plain HTTP.

use crate::budget::AttachBudget;
use crate::refusals::Severity;
use crate::state::Shared;
use bytes::Bytes;
use corridor::carrier::read_ahead::ReadAhead;
use corridor::listener::upgrade::{accept_websocket, check_websocket_upgrade};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role as WsRole;

/// The most one socket read takes in: one `recv` for several 64 KiB records
/// instead of one per tungstenite read buffer (see [`ReadAhead`]).
/// Allocated only while data flows, within `--max-read-ahead-bytes`.
const READ_AHEAD_BYTES: usize = 256 * 1024;

/// Which routes a listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Listener {
    /// The main listener: tunnel path, `/healthz`, and `/metrics` if no separate listener.
    Main,
    /// The separate metrics listener.
    Metrics,
}

pub(crate) async fn route(
    shared: Arc<Shared>,
    listener: Listener,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path();
    let response = match listener {
        Listener::Main if path == shared.config.ws_path => upgrade(shared, req, peer),
        Listener::Main if path == "/healthz" => text(StatusCode::OK, "ok"),
        Listener::Main if path == "/metrics" && shared.config.metrics_listen.is_none() => {
            metrics(&shared)
        }
        Listener::Metrics if path == "/metrics" => metrics(&shared),
        _ => text(StatusCode::NOT_FOUND, "404 page not found\n"),
    };
    Ok(response)
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn metrics(shared: &Shared) -> Response<Full<Bytes>> {
    if !shared.metrics.enabled() {
        return text(StatusCode::NOT_FOUND, "404 page not found\n");
    }
    // Expired tokens leave the cache when it is next used; a scrape is a use.
    let usage = shared.replay.usage(shared.config.clock.unix_now());
    shared.metrics.set_replay_usage(usage);
    let handshaking = shared
        .listener_stats
        .handshaking
        .load(std::sync::atomic::Ordering::Relaxed);
    shared.metrics.set_handshaking(handshaking);
    let mut response = Response::new(Full::new(Bytes::from(shared.metrics.encode())));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    response
}

/// A refusal before the upgrade, as gorilla/websocket writes it.
fn refuse(
    shared: &Shared,
    peer: SocketAddr,
    status: StatusCode,
    reason: &'static str,
) -> Response<Full<Bytes>> {
    shared.metrics.attach_failed_reason("upgrade_error");
    shared.metrics.http_rejected(reason);
    shared.refusals.refused(peer, reason, Severity::Peer);
    let body = match status {
        StatusCode::FORBIDDEN => "Forbidden\n",
        StatusCode::METHOD_NOT_ALLOWED => "Method Not Allowed\n",
        StatusCode::SERVICE_UNAVAILABLE => "Service Unavailable\n",
        _ => "Bad Request\n",
    };
    let mut response = text(status, body);
    response.headers_mut().insert(
        header::SEC_WEBSOCKET_VERSION,
        HeaderValue::from_static("13"),
    );
    response
}

fn upgrade(
    shared: Arc<Shared>,
    mut req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Full<Bytes>> {
    let origins = &shared.config.origins;
    if let Err(refusal) = check_websocket_upgrade(&req, |origin| origins.allows(origin)) {
        return refuse(&shared, peer, refusal.status(), refusal.reason());
    }
    if shared.is_shutting_down() {
        let mut response = text(StatusCode::SERVICE_UNAVAILABLE, "tunnel server closed\n");
        response.headers_mut().insert(
            header::HeaderName::from_static("x-content-type-options"),
            HeaderValue::from_static("nosniff"),
        );
        return response;
    }
    let (response, on_upgrade) = accept_websocket(&mut req, None);
    let ws_config = crate::ws::config(&shared.config.limits);
    let attach_budget = crate::ws::attach_read_budget(&shared.config.limits);
    let task_shared = shared.clone();
    shared.tasks.spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(error) => {
                tracing::debug!(%error, "upgrade failed");
                return;
            }
        };
        let io = ReadAhead::new(
            AttachBudget::new(TokioIo::new(upgraded), attach_budget),
            READ_AHEAD_BYTES,
            task_shared.read_ahead.clone(),
        );
        let ws = WebSocketStream::from_raw_socket(io, WsRole::Server, Some(ws_config)).await;
        crate::attach::serve_endpoint(task_shared, ws, peer).await;
    });
    response
}
