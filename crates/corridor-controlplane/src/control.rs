//! Control sessions: an endpoint upgrades `GET /v1/endpoint` to a
//! WebSocket, runs an fsec1 handshake with the control PSK, and registers
//! the ids it serves. Its registrations live exactly as long as the session.

use crate::error::ApiError;
use crate::protocol::{REGISTER, Register};
use crate::state::State;
use bytes::Bytes;
use corridor::carrier::ByteIo;
use corridor::listener::upgrade::{accept_websocket, check_websocket_upgrade};
use corridor::peer::Address;
use corridor::rpc::{Call, Failure, Router};
use corridor::{ConnectionInfo, Endpoint};
use corridor_core::negotiate;
use corridor_core::suite::SuiteName;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Answers the upgrade and runs the control session in a task of its own.
pub(crate) fn upgrade(
    state: Arc<State>,
    mut req: Request<Incoming>,
    remote: SocketAddr,
) -> Response<Full<Bytes>> {
    if let Err(refusal) = check_websocket_upgrade(&req, |_| true) {
        let status = refusal.status().as_u16();
        return ApiError::new(status, refusal.reason(), refusal.to_string()).response();
    }
    let headers = req.headers();
    // The suite: the first the endpoint offers that is accepted (fsec1 when
    // it names none, as flowersec's clients do).
    let protocols = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .map(|value| value.to_str().unwrap_or("").to_owned());
    let accepted = state.control_credential.suites();
    let Some(suite) = negotiate::parse_header(protocols.as_deref())
        .into_iter()
        .find(|suite| accepted.contains(suite))
    else {
        return ApiError::new(400, "no_common_suite", "no accepted suite offered").response();
    };
    let echoed = protocols.is_some().then(|| suite.wire_name());
    let (response, on_upgrade) = accept_websocket(&mut req, echoed);
    let task_state = state.clone();
    state.tasks.spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => run(task_state, TokioIo::new(upgraded), remote, suite).await,
            Err(error) => tracing::debug!(%error, "control upgrade failed"),
        }
    });
    response
}

async fn run(state: Arc<State>, io: impl ByteIo + 'static, remote: SocketAddr, suite: SuiteName) {
    let io: Box<dyn ByteIo> = Box::new(io);
    let session_key = state.next_session.fetch_add(1, Ordering::Relaxed);
    let options = state
        .control_options
        .clone()
        .with_router(register_handler(state.clone(), session_key));
    let mut info = ConnectionInfo::default();
    info.remote = Some(Address::Tcp(remote));
    let session = match Endpoint::accept_upgraded(
        io,
        info,
        suite,
        state.control_credential.clone(),
        &options,
    )
    .await
    {
        Ok(session) => session,
        Err(error) => {
            tracing::warn!(%remote, %error, "control session refused");
            return;
        }
    };
    tracing::debug!(%remote, "control session up");
    tokio::select! {
        _ = session.closed() => {}
        _ = state.shutdown.cancelled() => session.close().await,
    }
    let left = state.registry.remove_session(session_key);
    state.metrics.set_endpoints(left);
    tracing::info!(%remote, reason = session.end_reason().unwrap_or("closed"), "endpoint left");
}

/// The control session's one handler: `register`, which files this
/// session under an endpoint id.
fn register_handler(state: Arc<State>, session_key: u64) -> Router {
    Router::new().handle(REGISTER, move |call: Call, request: Register| {
        let state = state.clone();
        async move {
            let id = crate::protocol::endpoint_id(&request.endpoint_id)
                .map_err(|message| Failure::new(400, message))?;
            // A Noise session proved its key: it registers only its ids. A
            // PSK session proved only that it holds the PSK.
            if let (Some(key), Some(noise)) = (
                call.peer().identity.static_key(),
                &state.config.control_noise,
            ) {
                if !noise.endpoint_keys.allows(key, id) {
                    return Err(Failure::new(403, format!("this key may not register {id:?}")));
                }
            }
            let count = state.registry.add(id, session_key, call.session().clone());
            state.metrics.set_endpoints(count);
            tracing::info!(endpoint_id = id, remote = ?call.peer().connection.remote, "endpoint registered");
            Ok::<_, Failure>(serde_json::json!({}))
        }
    })
}
