//! A running node: its transport, its registry of known peers (kept
//! connected, with backoff, when they have an address; the allowlist in
//! allowlist mode), and its admin listener (loopback): `/healthz`,
//! `/metrics`, and the admin API, JSON-RPC 2.0 over WebSocket at `/admin`
//! behind a bearer token, with the methods `node.status`,
//! `node.peers.add`, `node.peers.list`, `node.peers.remove`, `node.send`,
//! `node.broadcast` and `node.allowlist`.

use crate::identity::peer_id;
use crate::registry::{PeerRecord, PeerRegistry};
use crate::transport::{MeshEvent, Transport, codes};
use crate::{MeshError, Message, Role};
use bytes::Bytes;
use corridor::jsonrpc::{self, RpcError};
use corridor::listener::http::serve_http;
use corridor::listener::upgrade::{accept_websocket, check_websocket_upgrade};
use corridor::listener::{BindAddr, Listener, ListenerConfig};
use corridor::peer::Address;
use corridor::reconnect::Backoff;
use corridor_core::identity::PublicKey;
use futures_util::{SinkExt as _, StreamExt as _};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq as _;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::Role as WsRole;

/// The admin API's WebSocket path.
pub const ADMIN_PATH: &str = "/admin";

/// A node with its registry.
#[derive(Clone)]
pub struct Node {
    /// The transport.
    pub transport: Transport,
    registry: Arc<PeerRegistry>,
    backoff: Backoff,
}

fn unix_now() -> i64 {
    corridor::clock::unix_now()
}

impl Node {
    /// Starts `transport` with `registry`: every known key is allowed, peers
    /// with an address are dialled and kept connected, and every connection
    /// updates its peer's record.
    pub async fn start(transport: Transport, registry: PeerRegistry) -> Result<Node, MeshError> {
        let node = Node {
            transport,
            registry: Arc::new(registry),
            backoff: Backoff::default(),
        };
        for record in node.registry.list()? {
            if let Some(key) = PublicKey::from_b64u(&record.public_key) {
                node.transport.access().allow(key);
                node.transport
                    .access()
                    .assign_role(&key, record.assigned_role);
            }
        }
        node.transport.start().await?;
        node.spawn_recorder();
        for record in node.registry.list()? {
            node.keep_connected(&record);
        }
        Ok(node)
    }

    /// Records each connected peer's name, role and time.
    fn spawn_recorder(&self) {
        let mut events = self.transport.events();
        let (registry, shutdown) = (self.registry.clone(), self.transport.inner.shutdown.clone());
        self.transport.inner.tasks.spawn(async move {
            loop {
                let event = tokio::select! {
                    event = events.recv() => event,
                    _ = shutdown.cancelled() => return,
                };
                let peer = match event {
                    Ok(MeshEvent::Connected(peer)) => peer,
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return,
                };
                let registry = registry.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    let known = registry.get(&peer.id).ok().flatten().unwrap_or_default();
                    let record = PeerRecord {
                        id: peer.id.clone(),
                        name: peer.name.clone(),
                        public_key: peer.public_key.clone(),
                        role: Some(peer.claimed_role),
                        assigned_role: known.assigned_role,
                        address: known.address,
                        last_seen: Some(unix_now()),
                    };
                    if let Err(error) = registry.put(&record) {
                        tracing::warn!(%error, "peer registry update failed");
                    }
                })
                .await;
            }
        });
    }

    /// Dials `record`'s address (IK with its key) whenever it is not
    /// connected, with backoff, until the node stops or the peer is removed.
    fn keep_connected(&self, record: &PeerRecord) {
        let (Some(url), Some(key)) = (
            record.address.clone(),
            PublicKey::from_b64u(&record.public_key),
        ) else {
            return;
        };
        let (node, id) = (self.clone(), record.id.clone());
        let shutdown = self.transport.inner.shutdown.clone();
        self.transport.inner.tasks.spawn(async move {
            let mut events = node.transport.events();
            let mut failures = 0u32;
            loop {
                if shutdown.is_cancelled() || !matches!(node.registry.get(&id), Ok(Some(_))) {
                    return;
                }
                let wait = if node.transport.connection(&id).is_some() {
                    failures = 0;
                    None
                } else {
                    match node.transport.connect(&url, Some(key)).await {
                        Ok(_) | Err(MeshError::Duplicate(_)) => {
                            failures = 0;
                            None
                        }
                        Err(error) => {
                            tracing::debug!(%error, peer = %id, "reconnect failed");
                            let random =
                                f64::from(rand_core::RngCore::next_u32(&mut rand_core::OsRng))
                                    / f64::from(u32::MAX);
                            let delay = node.backoff.delay(failures, random);
                            failures = failures.saturating_add(1);
                            Some(delay)
                        }
                    }
                };
                // Until the peer's connection ends, or the backoff is over.
                let ended = async {
                    loop {
                        match events.recv().await {
                            Ok(MeshEvent::Disconnected { peer, .. }) if peer.id == id => return,
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                            _ => {}
                        }
                    }
                };
                tokio::select! {
                    _ = ended, if wait.is_none() => {}
                    _ = tokio::time::sleep(wait.unwrap_or_default()), if wait.is_some() => {}
                    _ = shutdown.cancelled() => return,
                }
            }
        });
    }

    /// Adds a peer to dial at `url` with `key` (and to allow); with
    /// `role`, that is its role whatever it says of itself.
    pub fn add_peer(
        &self,
        url: Option<String>,
        key: PublicKey,
        name: &str,
        role: Option<Role>,
    ) -> Result<PeerRecord, MeshError> {
        let record = PeerRecord {
            id: peer_id(&key),
            name: name.to_owned(),
            public_key: key.to_b64u(),
            role: None,
            assigned_role: role,
            address: url,
            last_seen: None,
        };
        self.registry.put(&record)?;
        self.transport.access().allow(key);
        self.transport.access().assign_role(&key, role);
        self.keep_connected(&record);
        Ok(record)
    }

    /// Removes peer `id`: no longer allowed or dialled, its connection closed.
    pub async fn remove_peer(&self, id: &str) -> Result<bool, MeshError> {
        let Some(record) = self.registry.get(id)? else {
            return Ok(false);
        };
        self.registry.remove(id)?;
        if let Some(key) = PublicKey::from_b64u(&record.public_key) {
            self.transport.access().revoke(&key);
        }
        let _ = self
            .transport
            .graceful_close(id, "removed from the peer list", codes::NORMAL)
            .await;
        Ok(true)
    }

    /// Known peers, each with whether it is connected now.
    pub fn peers(&self) -> Result<Vec<Value>, MeshError> {
        Ok(self
            .registry
            .list()?
            .into_iter()
            .map(|record| {
                let connected = self.transport.connection(&record.id).is_some();
                let mut value = serde_json::to_value(&record).unwrap_or_default();
                value["connected"] = connected.into();
                value
            })
            .collect())
    }

    /// Serves the admin API on `addr` (loopback) for holders of `token`;
    /// returns the bound address.
    pub async fn serve_admin(
        &self,
        addr: SocketAddr,
        token: String,
    ) -> Result<SocketAddr, MeshError> {
        let listener = Listener::bind(&BindAddr::Tcp(addr), ListenerConfig::default())
            .await
            .map_err(|source| MeshError::Bind {
                addr: addr.to_string(),
                source,
            })?;
        let local = match listener.local_addr() {
            Address::Tcp(local) => *local,
            _ => addr,
        };
        let node = self.clone();
        let token = Arc::new(digest(&token));
        let inner = self.transport.inner.clone();
        inner.tasks.spawn(async move {
            loop {
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = node.transport.inner.shutdown.cancelled() => return,
                };
                let (node, token) = (node.clone(), token.clone());
                node.transport.inner.tasks.clone().spawn(async move {
                    let Ok((connection, _slot)) =
                        accepted.handshake(|c| async move { Ok::<_, ()>(c) }).await
                    else {
                        return;
                    };
                    let shutdown = node.transport.inner.shutdown.clone();
                    let handler = move |req| admin_route(node.clone(), token.clone(), req);
                    serve_http(connection.io, handler, Duration::from_secs(10), &shutdown).await;
                });
            }
        });
        Ok(local)
    }
}

fn digest(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(
        ring::digest::digest(&ring::digest::SHA256, token.trim().as_bytes()).as_ref(),
    );
    out
}

fn status(code: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = code;
    response
}

async fn admin_route(
    node: Node,
    token: Arc<[u8; 32]>,
    mut req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    match (req.method(), req.uri().path()) {
        (&hyper::Method::GET, "/healthz") => return Ok(status(StatusCode::OK, "ok\n")),
        (&hyper::Method::GET, "/metrics") => {
            let text = node.transport.metrics_text();
            return Ok(Response::new(Full::new(Bytes::from(text))));
        }
        (_, ADMIN_PATH) => {}
        _ => return Ok(status(StatusCode::NOT_FOUND, "not found\n")),
    }
    let presented = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(digest);
    if !presented.is_some_and(|presented| bool::from(presented.ct_eq(&*token))) {
        return Ok(status(
            StatusCode::UNAUTHORIZED,
            "the admin token is required\n",
        ));
    }
    // Not for browsers: a page must not drive a node with a user's access.
    if let Err(refusal) = check_websocket_upgrade(&req, |origin| origin.is_none()) {
        let mut answer = status(refusal.status(), "refused\n");
        *answer.status_mut() = refusal.status();
        return Ok(answer);
    }
    let (response, on_upgrade) = accept_websocket(&mut req, None);
    let tasks = node.transport.inner.tasks.clone();
    tasks.spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let mut ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), WsRole::Server, None).await;
        let shutdown = node.transport.inner.shutdown.clone();
        loop {
            let message = tokio::select! {
                message = ws.next() => message,
                _ = shutdown.cancelled() => return,
            };
            let text = match message {
                Some(Ok(WsMessage::Text(text))) => text,
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => continue,
            };
            let answer = jsonrpc::handle(text.as_str(), |method, params| {
                admin_call(&node, method, params)
            })
            .await;
            if let Some(answer) = answer {
                if ws.send(WsMessage::text(answer)).await.is_err() {
                    return;
                }
            }
        }
    });
    Ok(response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddParams {
    #[serde(default)]
    url: Option<String>,
    public_key: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: Option<Role>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdParams {
    id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendParams {
    #[serde(default)]
    to: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    payload: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowlistParams {
    enabled: bool,
}

/// An application error of the admin API.
const FAILED: i64 = -32000;

fn failed(error: impl std::fmt::Display) -> RpcError {
    RpcError::new(FAILED, error.to_string())
}

async fn admin_call(node: &Node, method: String, params: Value) -> Result<Value, RpcError> {
    let transport = &node.transport;
    match method.as_str() {
        "node.status" => Ok(json!({
            "peer_id": transport.peer_id(),
            "public_key": transport.public_key().to_b64u(),
            "name": transport.inner.identity.name,
            "role": transport.inner.identity.role,
            "listen": transport.local_addr(),
            "allowlist": transport.access().allowlist_mode(),
            "connected": transport.connections().iter().map(|c| c.peer.clone()).collect::<Vec<_>>(),
            "stats": transport.stats(),
        })),
        "node.peers.list" => node.peers().map(Value::from).map_err(failed),
        "node.peers.add" => {
            let params: AddParams = jsonrpc::params(params)?;
            let key = PublicKey::from_b64u(&params.public_key).ok_or_else(|| {
                RpcError::invalid_params("public_key is not a base64url X25519 key")
            })?;
            let record = node
                .add_peer(params.url, key, &params.name, params.role)
                .map_err(failed)?;
            serde_json::to_value(record).map_err(failed)
        }
        "node.peers.remove" => {
            let params: IdParams = jsonrpc::params(params)?;
            let removed = node.remove_peer(&params.id).await.map_err(failed)?;
            Ok(json!({"removed": removed}))
        }
        "node.send" | "node.broadcast" => {
            let params: SendParams = jsonrpc::params(params)?;
            let message = Message::new(&params.kind, &params.payload).map_err(failed)?;
            let id = message.id.clone();
            if method == "node.send" {
                transport.send(&params.to, message).await.map_err(failed)?;
                Ok(json!({"id": id}))
            } else {
                let sent = transport.broadcast(message).map_err(failed)?;
                Ok(json!({"id": id, "peers": sent}))
            }
        }
        "node.allowlist" => {
            let params: AllowlistParams = jsonrpc::params(params)?;
            transport.access().set_allowlist_mode(params.enabled);
            Ok(json!({"allowlist": params.enabled}))
        }
        _ => Err(RpcError::new(jsonrpc::METHOD_NOT_FOUND, "method not found")),
    }
}
