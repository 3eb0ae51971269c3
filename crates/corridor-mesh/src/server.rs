//! The listening side: HTTP on the node's port, the WebSocket upgrade at
//! the configured path, the connection cap answered with 503 before any
//! upgrade (counting connections mid-handshake), and browsers admitted only
//! from local pages.

use crate::MeshError;
use crate::transport::{CHANNEL_ID, ConnectionCell, Inner, Transport};
use bytes::Bytes;
use corridor::carrier::ByteIo;
use corridor::listener::http::serve_http;
use corridor::listener::upgrade::{accept_websocket, check_websocket_upgrade};
use corridor::listener::{BindAddr, Listener, ListenerConfig};
use corridor::peer::Address;
use corridor::{ConnectionInfo, Endpoint, EndpointCredential};
use corridor_core::noise::{Pattern, ResponderConfig};
use corridor_core::suite::SuiteName;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

/// Whether a browser page at `origin` may connect: only local pages (the
/// seed's rule); programs send no Origin and are always admitted.
pub fn origin_allowed(origin: Option<&str>) -> bool {
    let Some(origin) = origin else { return true };
    let rest = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or("");
    let host = match rest.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => rest.split(':').next().unwrap_or(""),
    };
    matches!(host, "localhost" | "127.0.0.1" | "::1")
}

impl Transport {
    /// Starts listening; returns the bound address.
    pub async fn start(&self) -> Result<SocketAddr, MeshError> {
        start(self.inner.clone()).await
    }
}

async fn start(inner: Arc<Inner>) -> Result<SocketAddr, MeshError> {
    let config = &inner.config;
    let tls = match &config.tls {
        Some(files) => Some(
            corridor::tls::load_server_config(files)
                .map_err(|error| MeshError::Config(error.to_string()))?,
        ),
        None => None,
    };
    // Room above the mesh's own cap, so connections past it can still be
    // told 503 rather than dropped unanswered.
    let listener_config = ListenerConfig {
        max_connections: config.max_conns * 2 + 16,
        handshake_timeout: config.handshake_timeout,
        tls,
        ..ListenerConfig::default()
    };
    let listener = Listener::bind(&BindAddr::Tcp(config.listen), listener_config)
        .await
        .map_err(|source| MeshError::Bind {
            addr: config.listen.to_string(),
            source,
        })?;
    let local = match listener.local_addr() {
        Address::Tcp(addr) => *addr,
        _ => config.listen,
    };
    let _ = inner.local_addr.set(local);
    let accept_inner = inner.clone();
    inner.tasks.spawn(async move {
        let inner = accept_inner;
        loop {
            let accepted = tokio::select! {
                _ = inner.shutdown.cancelled() => return,
                accepted = listener.accept() => accepted,
            };
            let connection_inner = inner.clone();
            inner.tasks.spawn(async move {
                let inner = connection_inner;
                let Ok((connection, _slot)) =
                    accepted.handshake(|c| async move { Ok::<_, ()>(c) }).await
                else {
                    inner.count("tls_failed");
                    return;
                };
                let info = connection.info.clone();
                let handler_inner = inner.clone();
                let handler = move |req| route(handler_inner.clone(), info.clone(), req);
                serve_http(
                    connection.io,
                    handler,
                    inner.config.handshake_timeout,
                    &inner.shutdown,
                )
                .await;
            });
        }
    });
    Ok(local)
}

fn answer(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
}

async fn route(
    inner: Arc<Inner>,
    info: ConnectionInfo,
    mut req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() != inner.config.ws_path {
        return Ok(answer(StatusCode::NOT_FOUND, "not found\n"));
    }
    if let Err(refusal) = check_websocket_upgrade(&req, origin_allowed) {
        inner.count(format!("refused_{}", refusal.reason()));
        return Ok(answer(refusal.status(), "refused\n"));
    }
    let Some(slot) = inner.slot() else {
        inner.count("refused_at_cap");
        return Ok(answer(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many connections\n",
        ));
    };
    let offered = req
        .headers()
        .get(hyper::header::SEC_WEBSOCKET_PROTOCOL)
        .map(|value| value.to_str().unwrap_or("").to_owned());
    if !corridor_core::negotiate::parse_header(offered.as_deref()).contains(&SuiteName::Noise) {
        inner.count("refused_no_noise");
        return Ok(answer(
            StatusCode::BAD_REQUEST,
            "the noise suite is required\n",
        ));
    }
    let (response, on_upgrade) = accept_websocket(&mut req, Some(SuiteName::Noise.wire_name()));
    let task_inner = inner.clone();
    inner.tasks.spawn(async move {
        let inner = task_inner;
        let Ok(upgraded) = on_upgrade.await else { return };
        let io: Box<dyn ByteIo> = Box::new(TokioIo::new(upgraded));
        let this = ConnectionCell::default();
        let options = inner.session_options(&this);
        let mut responder = ResponderConfig::new(inner.identity.secret().clone());
        responder.patterns = vec![Pattern::XX, Pattern::IK];
        responder.channel_id = Some(CHANNEL_ID.to_owned());
        let credential = EndpointCredential::noise(responder, inner.authorizer(true));
        let accepted = tokio::select! {
            accepted = Endpoint::accept_upgraded(io, info, SuiteName::Noise, credential, &options) => accepted,
            _ = inner.shutdown.cancelled() => return,
        };
        match accepted {
            Ok(session) => {
                if let Err(error) = inner.register(session, false, slot, &this) {
                    tracing::debug!(%error, "incoming connection not kept");
                }
            }
            Err(error) => {
                inner.handshake_failed(error.reason());
                tracing::info!(reason = error.reason(), %error, "peer handshake failed");
            }
        }
    });
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::origin_allowed;

    #[test]
    fn only_local_pages_and_programs_are_admitted() {
        for allowed in [
            None,
            Some("http://localhost:3000"),
            Some("https://127.0.0.1"),
            Some("http://[::1]:8080"),
        ] {
            assert!(origin_allowed(allowed), "{allowed:?}");
        }
        for refused in [
            Some("https://evil.example"),
            Some("http://localhost.evil.example"),
            Some("null"),
            Some("\u{fffd}"),
        ] {
            assert!(!origin_allowed(refused), "{refused:?}");
        }
    }
}
