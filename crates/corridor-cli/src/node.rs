//! `corridor node`: a mesh node (start), and calls to a running node's
//! admin API (peers add/list/remove, send, broadcast, status, allowlist).

use anyhow::Context as _;
use clap::{Args, Subcommand};
use corridor_mesh::node::{ADMIN_PATH, Node};
use corridor_mesh::registry::PeerRegistry;
use corridor_mesh::{NodeIdentity, Role, Transport, TransportConfig};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

#[derive(Args, Debug)]
pub(crate) struct NodeArgs {
    #[command(subcommand)]
    command: NodeCommand,
}

#[derive(Subcommand, Debug)]
enum NodeCommand {
    Start(StartArgs),
    /// Known peers of a running node.
    Peers(PeersArgs),
    Send(SendArgs),
    Broadcast(BroadcastArgs),
    /// A running node's id, key, connections and counters.
    Status(AdminArgs),
    /// Switch a running node between allowlist and open mode.
    Allowlist(AllowlistArgs),
}

/// Run a mesh node: it listens for peers (WebSocket, Noise handshake with
/// X25519 identities), keeps its known peers connected, and prints every
/// message it receives as a JSON line on stdout, after one JSON ready line.
///
/// Its identity (made on first start, 0600), its peer registry and its
/// admin token live in the state directory. Other `corridor node` commands
/// talk to it through its admin API on --admin (loopback).
/// SIGINT/SIGTERM: every peer is told 1004 and the node stops.
#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  corridor node start --name ctl --role controller --state-dir ./ctl
  corridor node start --name w1 --role worker --state-dir ./w1 --listen 127.0.0.1:9093 --admin 127.0.0.1:9094
  corridor node peers add ws://127.0.0.1:9091/ws --key CTL_PUBLIC_KEY --admin 127.0.0.1:9094 --admin-token-file ./w1/admin.token")]
struct StartArgs {
    /// This node's display name.
    #[arg(long, default_value = "node")]
    name: String,
    /// controller, worker or dual.
    #[arg(long, default_value = "dual")]
    role: Role,
    /// Where peers connect.
    #[arg(long, default_value = "0.0.0.0:9091")]
    listen: SocketAddr,
    /// The admin API (keep it on loopback).
    #[arg(long, default_value = "127.0.0.1:9092")]
    admin: SocketAddr,
    /// Identity, registry and admin token (default: $CORRIDOR_STATE_DIR/node).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Admit only peers in the registry (switchable: `corridor node allowlist`).
    #[arg(long)]
    allowlist: bool,
    /// Connections at once, in and out, handshaking included (503 past it).
    #[arg(long, default_value_t = TransportConfig::default().max_conns)]
    max_conns: usize,
    /// The largest message in bytes.
    #[arg(long, default_value_t = TransportConfig::default().max_message_size)]
    max_message_size: usize,
    /// Seconds between keepalive pings.
    #[arg(long, default_value_t = 30)]
    ping_interval: u64,
    /// Seconds a peer has to answer before it is dropped.
    #[arg(long, default_value_t = 10)]
    pong_timeout: u64,
    /// TLS certificate (PEM) for wss://, with --tls-key.
    #[arg(long, requires = "tls_key", conflicts_with = "tls_self_signed")]
    tls_cert: Option<PathBuf>,
    /// TLS key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve wss:// with a self-signed certificate made on first start in
    /// the state directory (`tls/`); the ready line's `tls_pin` is what
    /// peers pass as --peer-tls-pin.
    #[arg(long)]
    tls_self_signed: bool,
    /// Trust wss:// peers whose certificates chain to these CAs (PEM)
    /// instead of the public web roots.
    #[arg(long, conflicts_with = "peer_tls_pin")]
    peer_ca: Option<PathBuf>,
    /// Trust exactly the wss:// peer certificate with this key
    /// (`sha256/BASE64` of its SubjectPublicKeyInfo), whatever its name and
    /// issuer: for peers with self-signed certificates.
    #[arg(long)]
    peer_tls_pin: Option<String>,
}

/// Where a running node's admin API is.
#[derive(Args, Debug)]
struct AdminArgs {
    /// The node's --admin address.
    #[arg(long, default_value = "127.0.0.1:9092")]
    admin: SocketAddr,
    /// Its admin token file (default: $CORRIDOR_STATE_DIR/node/admin.token).
    #[arg(long)]
    admin_token_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct PeersArgs {
    #[command(subcommand)]
    command: PeersCommand,
}

#[derive(Subcommand, Debug)]
enum PeersCommand {
    /// Add a peer: allowed, and dialled (kept connected) when a URL is given.
    Add {
        /// ws://host:9091/ws (or wss://); omit for a peer that dials in.
        url: Option<String>,
        /// Its public key (its ready line's `public_key`).
        #[arg(long, allow_hyphen_values = true)]
        key: String,
        /// A name until it says its own.
        #[arg(long, default_value = "")]
        name: String,
        /// Its role (controller, worker or dual), whatever it says of
        /// itself: only a controller or dual peer may send orders.
        #[arg(long)]
        role: Option<Role>,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// List known peers and whether each is connected.
    List(AdminArgs),
    /// Remove a peer: no longer allowed or dialled, its connection closed.
    Remove {
        /// Its peer id.
        #[arg(allow_hyphen_values = true)]
        id: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

/// Send a message to one connected peer.
#[derive(Args, Debug)]
struct SendArgs {
    /// The peer id.
    #[arg(allow_hyphen_values = true)]
    to: String,
    #[command(flatten)]
    message: MessageArgs,
}

/// Send a message to every connected peer.
#[derive(Args, Debug)]
struct BroadcastArgs {
    #[command(flatten)]
    message: MessageArgs,
}

/// A message and the node that sends it.
#[derive(Args, Debug)]
struct MessageArgs {
    /// The message type (types starting `order.` are orders: workers may not send them).
    kind: String,
    /// The payload, as JSON.
    #[arg(default_value = "null")]
    payload: String,
    #[command(flatten)]
    admin: AdminArgs,
}

#[derive(Args, Debug)]
struct AllowlistArgs {
    /// on or off.
    mode: String,
    #[command(flatten)]
    admin: AdminArgs,
}

fn default_dir() -> PathBuf {
    crate::dev_state::default_dir().join("node")
}

pub(crate) fn run(args: NodeArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async move {
        let (admin, method, params) = match args.command {
            NodeCommand::Start(args) => return start(args).await,
            NodeCommand::Status(admin) => (admin, "node.status", json!({})),
            NodeCommand::Peers(PeersArgs { command }) => match command {
                PeersCommand::Add {
                    url,
                    key,
                    name,
                    role,
                    admin,
                } => (
                    admin,
                    "node.peers.add",
                    json!({"url": url, "public_key": key, "name": name, "role": role}),
                ),
                PeersCommand::List(admin) => (admin, "node.peers.list", json!({})),
                PeersCommand::Remove { id, admin } => {
                    (admin, "node.peers.remove", json!({"id": id}))
                }
            },
            NodeCommand::Send(SendArgs { to, message }) => (
                message.admin,
                "node.send",
                json!({"to": to, "type": message.kind, "payload": payload(&message.payload)?}),
            ),
            NodeCommand::Broadcast(BroadcastArgs { message }) => (
                message.admin,
                "node.broadcast",
                json!({"type": message.kind, "payload": payload(&message.payload)?}),
            ),
            NodeCommand::Allowlist(args) => {
                let enabled = match args.mode.as_str() {
                    "on" => true,
                    "off" => false,
                    other => anyhow::bail!("allowlist is on or off, not {other:?}"),
                };
                (args.admin, "node.allowlist", json!({"enabled": enabled}))
            }
        };
        let answer = admin_call(&admin, method, params).await?;
        println!("{answer}");
        Ok(ExitCode::SUCCESS)
    })
}

fn payload(text: &str) -> anyhow::Result<Value> {
    serde_json::from_str(text).with_context(|| format!("the payload is not JSON: {text:?}"))
}

async fn admin_call(admin: &AdminArgs, method: &str, params: Value) -> anyhow::Result<Value> {
    let token_file = admin
        .admin_token_file
        .clone()
        .unwrap_or_else(|| default_dir().join("admin.token"));
    let token = std::fs::read_to_string(&token_file)
        .with_context(|| format!("{}", token_file.display()))?;
    let mut request = format!("ws://{}{ADMIN_PATH}", admin.admin).into_client_request()?;
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {}", token.trim()).parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .with_context(|| format!("the node's admin API at {}", admin.admin))?;
    let call = corridor::jsonrpc::request(method, params, Some(1));
    ws.send(WsMessage::text(call)).await?;
    while let Some(message) = ws.next().await {
        if let WsMessage::Text(text) = message? {
            let answer: Value = serde_json::from_str(text.as_str())?;
            let _ = ws.close(None).await;
            if let Some(error) = answer.get("error") {
                anyhow::bail!(
                    "{method}: {}",
                    error["message"].as_str().unwrap_or("failed")
                );
            }
            return Ok(answer["result"].clone());
        }
    }
    anyhow::bail!("the node closed the admin connection")
}

async fn start(args: StartArgs) -> anyhow::Result<ExitCode> {
    let dir = args.state_dir.unwrap_or_else(default_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;
    let identity = NodeIdentity::load_or_create(&dir.join("node.key"), args.name, args.role)?;
    let registry = PeerRegistry::open(&dir.join("peers.redb"))?;
    let token_file = dir.join("admin.token");
    let token = corridor::keystore::load_or_create_token(&token_file)
        .with_context(|| format!("{}", token_file.display()))?;
    let tls_client = match (&args.peer_ca, &args.peer_tls_pin) {
        (Some(ca), _) => Some(corridor::tls::load_client_config(ca, None)?),
        (None, Some(pin)) => Some(corridor::tls::client_config(pin)?),
        (None, None) => None,
    };
    let tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => Some(corridor::tls::ServerTlsFiles {
            cert,
            key,
            client_ca: None,
        }),
        _ if args.tls_self_signed => {
            let names = vec!["localhost".to_owned(), args.listen.ip().to_string()];
            Some(corridor::tls::load_or_create_self_signed(&dir.join("tls"), &names)?.files)
        }
        _ => None,
    };
    let tls_pin = tls
        .as_ref()
        .map(|files| corridor::tls::certificate_pin(&files.cert))
        .transpose()?;
    let config = TransportConfig {
        listen: args.listen,
        tls_client,
        tls,
        max_conns: args.max_conns,
        max_message_size: args.max_message_size,
        ping_interval: std::time::Duration::from_secs(args.ping_interval.max(1)),
        pong_timeout: std::time::Duration::from_secs(args.pong_timeout.max(1)),
        ..TransportConfig::default()
    };
    let transport = Transport::new(config, identity);
    transport.access().set_allowlist_mode(args.allowlist);
    transport.on_message(|peer, message| async move {
        println!("{}", json!({"from": peer, "message": message}));
    });
    let node = Node::start(transport, registry).await?;
    let admin = node.serve_admin(args.admin, token).await?;
    let transport = &node.transport;
    let listen = transport.local_addr().context("listening")?;
    println!(
        "{}",
        json!({
            "peer_id": transport.peer_id(),
            "public_key": transport.public_key().to_b64u(),
            "url": format!("{}://{listen}/ws", if tls_pin.is_some() { "wss" } else { "ws" }),
            "tls_pin": tls_pin,
            "admin": admin,
            "admin_token_file": token_file,
        })
    );
    crate::signals::terminated().await;
    tracing::info!("stopping: telling every peer 1004");
    node.transport.stop().await;
    Ok(ExitCode::SUCCESS)
}
