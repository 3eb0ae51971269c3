//! The control API: JSON-RPC 2.0 over WebSocket at [`crate::API_PATH`] on
//! the API port (TLS), beside `/healthz` and `/metrics`.
//!
//! - Operator methods need `Authorization: Bearer <admin token>` on the
//!   upgrade: `proxy.register {host}` (returns a fresh secret),
//!   `proxy.unregister {host}`, `proxy.list`.
//! - Agents call `proxy.subscribe {host, secret}`; the connection then
//!   receives `proxy.connect` notifications for that host's visitors until
//!   it closes. An unknown host and a wrong secret get the same error.

use crate::agents::AgentLink;
use crate::state::Shared;
use base64::Engine as _;
use bytes::Bytes;
use corridor::jsonrpc::{self, RpcError};
use corridor::listener::Listener;
use corridor::listener::http::serve_http;
use corridor::listener::upgrade::{accept_websocket, check_websocket_upgrade};
use futures_util::{SinkExt as _, StreamExt as _};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use subtle::ConstantTimeEq as _;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};

/// An error for "unknown host or wrong secret", one code for both.
pub const NOT_AUTHORIZED: i64 = -32001;
/// An operator method called without the admin token.
pub const ADMIN_REQUIRED: i64 = -32002;
/// The store failed.
pub const STORE_FAILED: i64 = -32003;

pub(crate) async fn serve(shared: Arc<Shared>, listener: Listener) {
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let task_shared = shared.clone();
        shared.tasks.spawn(async move {
            let Ok((connection, _slot)) =
                accepted.handshake(|c| async move { Ok::<_, ()>(c) }).await
            else {
                return;
            };
            let handler_shared = task_shared.clone();
            let handler = move |req| route(handler_shared.clone(), req);
            serve_http(
                connection.io,
                handler,
                Duration::from_secs(10),
                &task_shared.shutdown,
            )
            .await;
        });
    }
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

async fn route(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(match (req.method(), req.uri().path()) {
        (&Method::GET, "/healthz") => text(StatusCode::OK, "ok\n"),
        (&Method::GET, "/metrics") if shared.metrics_enabled.load(Ordering::Relaxed) => {
            text(StatusCode::OK, shared.metrics.encode())
        }
        (_, crate::API_PATH) => upgrade(shared, req),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    })
}

fn is_admin(shared: &Shared, req: &Request<Incoming>) -> bool {
    let Some(token) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
    else {
        return false;
    };
    let presented = crate::client::admin_token_digest(token.trim());
    bool::from(presented.ct_eq(&shared.admin_token))
}

fn upgrade(shared: Arc<Shared>, mut req: Request<Incoming>) -> Response<Full<Bytes>> {
    // Not for browsers: a page must not drive the API with a user's ambient access.
    if let Err(refusal) = check_websocket_upgrade(&req, |origin| origin.is_none()) {
        return text(refusal.status(), format!("{}\n", refusal.reason()));
    }
    let admin = is_admin(&shared, &req);
    let (response, on_upgrade) = accept_websocket(&mut req, None);
    let task_shared = shared.clone();
    shared.tasks.spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let config = WebSocketConfig::default()
            .max_message_size(Some(task_shared.config.limits.max_api_message_bytes))
            .max_frame_size(Some(task_shared.config.limits.max_api_message_bytes));
        let ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        session(task_shared, ws, admin).await;
    });
    response
}

/// One API connection: its calls, and the notifications of the hosts it
/// subscribed to.
async fn session<S>(shared: Arc<Shared>, mut ws: WebSocketStream<S>, admin: bool)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (agent, mut notifications) = shared.agents.link();
    let context = Context {
        shared: shared.clone(),
        admin,
        agent,
    };
    let mut ping = tokio::time::interval(shared.config.limits.api_ping_interval);
    ping.tick().await;
    let mut silent_ticks = 0u32;
    let close = loop {
        tokio::select! {
            message = ws.next() => {
                silent_ticks = 0;
                let text = match message {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Binary(_))) => break Some((1003, "text frames only")),
                    Some(Ok(Message::Close(_))) | None => break None,
                    Some(Ok(_)) => continue,
                    Some(Err(_)) => break Some((1002, "protocol error")),
                };
                let answer = jsonrpc::handle(text.as_str(), |method, params| context.call(method, params)).await;
                if let Some(answer) = answer {
                    if ws.send(Message::text(answer)).await.is_err() {
                        break None;
                    }
                }
            }
            Some(notification) = notifications.recv() => {
                if ws.send(Message::text(notification)).await.is_err() {
                    break None;
                }
            }
            _ = ping.tick() => {
                silent_ticks += 1;
                if silent_ticks >= 3 {
                    break Some((1001, "no answer to pings"));
                }
                if ws.send(Message::Ping(Bytes::new())).await.is_err() {
                    break None;
                }
            }
            _ = shared.shutdown.cancelled() => break Some((1001, "server shutting down")),
        }
    };
    shared.agents.remove(context.agent.id);
    shared.metrics.set_agents(shared.agents.connected());
    if let Some((code, reason)) = close {
        let frame = CloseFrame {
            code: code.into(),
            reason: reason.into(),
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(Some(frame))).await;
    }
}

struct Context {
    shared: Arc<Shared>,
    admin: bool,
    agent: AgentLink,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HostParams {
    host: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscribeParams {
    host: String,
    secret: String,
}

fn host_name(host: &str) -> Result<String, RpcError> {
    crate::sniff::normalize(host).map_err(RpcError::invalid_params)
}

impl Context {
    async fn call(&self, method: String, params: Value) -> Result<Value, RpcError> {
        let shared = &self.shared;
        match method.as_str() {
            "proxy.subscribe" => {
                let params: SubscribeParams = jsonrpc::params(params)?;
                let host = host_name(&params.host)?;
                let secret = base64::engine::general_purpose::STANDARD
                    .decode(params.secret.trim())
                    .unwrap_or_default();
                if !shared.store.verify(&host, &secret) {
                    return Err(RpcError::new(
                        NOT_AUTHORIZED,
                        "unknown host or wrong secret",
                    ));
                }
                shared.agents.subscribe(&host, &self.agent);
                shared.metrics.set_agents(shared.agents.connected());
                tracing::info!(%host, agent = self.agent.id, "agent subscribed");
                Ok(json!({"host": host, "data_addr": shared.data_addr}))
            }
            "proxy.register" | "proxy.unregister" | "proxy.list" if !self.admin => Err(
                RpcError::new(ADMIN_REQUIRED, "operator methods need the admin token"),
            ),
            "proxy.register" => {
                let params: HostParams = jsonrpc::params(params)?;
                let host = host_name(&params.host)?;
                let secret = off_runtime(shared, {
                    let host = host.clone();
                    move |store| store.register(&host)
                })
                .await?;
                // A new secret ends the old one's subscriptions.
                shared.agents.remove_host(&host);
                tracing::info!(%host, "host registered");
                Ok(json!({
                    "host": host,
                    "secret": base64::engine::general_purpose::STANDARD.encode(secret),
                }))
            }
            "proxy.unregister" => {
                let params: HostParams = jsonrpc::params(params)?;
                let host = host_name(&params.host)?;
                let removed = off_runtime(shared, {
                    let host = host.clone();
                    move |store| store.unregister(&host)
                })
                .await?;
                shared.agents.remove_host(&host);
                Ok(json!({"host": host, "removed": removed}))
            }
            "proxy.list" => {
                let agents = shared.agents.counts();
                let hosts: Vec<Value> = shared
                    .store
                    .list()
                    .into_iter()
                    .map(|host| {
                        let count = agents.get(&host).copied().unwrap_or(0);
                        json!({"host": host, "agents": count})
                    })
                    .collect();
                Ok(json!({"hosts": hosts}))
            }
            _ => Err(RpcError::new(jsonrpc::METHOD_NOT_FOUND, "method not found")),
        }
    }
}

/// Runs a store write (a synced file commit) on the blocking pool.
async fn off_runtime<T, F>(shared: &Arc<Shared>, write: F) -> Result<T, RpcError>
where
    T: Send + 'static,
    F: FnOnce(&crate::store::Store) -> Result<T, crate::ProxyError> + Send + 'static,
{
    let shared = shared.clone();
    let failed = |error: String| {
        tracing::error!(%error, "store failed");
        RpcError::new(STORE_FAILED, "store failed")
    };
    tokio::task::spawn_blocking(move || write(&shared.store))
        .await
        .map_err(|error| failed(error.to_string()))?
        .map_err(|error| failed(error.to_string()))
}
