//! `corridor serve`: run an endpoint, through a relay with a grant or listening
//! directly, offering the built-in RPC, echo streams and TCP forwards.

use anyhow::Context as _;
use clap::Args;
use corridor::builtin::{self, Forwards, Info};
use corridor::listener::{BindAddr, HandshakeError, Listener, ListenerConfig};
use corridor::rpc::Router;
use corridor::{DirectCredential, Endpoint, SessionOptions};
use corridor_core::b64;
use corridor_core::fsec1::Suite;
use corridor_core::grant::{ChannelInitGrant, DirectInfo, GrantPair};
use rand_core::RngCore;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Run an endpoint that clients reach through a relay (--grant) or directly (--listen).
///
/// It answers the built-in RPC methods ping (type_id 1), echo (2) and info (3),
/// echoes streams of kind "echo", and pipes each --forward kind to its TCP
/// address. Through a relay it serves the one session its grant admits, then
/// exits. Listening directly, it prints one JSON line with the direct connect
/// info a client needs (`corridor call --direct-info`), then serves every
/// client that completes the handshake.
#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  corridor token grant > pair.json
  corridor serve --grant pair.json --forward ssh=127.0.0.1:22
  corridor serve --listen 127.0.0.1:9000 --info-file info.json")]
pub(crate) struct ServeArgs {
    /// A grant file (a server grant, or a {client, server} pair from `corridor token grant`); `-` reads stdin.
    #[arg(long, conflicts_with = "listen")]
    grant: Option<PathBuf>,
    /// Listen for direct WebSocket clients on this address.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Also write the direct connect info to this file.
    #[arg(long, requires = "listen")]
    info_file: Option<PathBuf>,
    /// Suite for direct clients: x25519 or p256.
    #[arg(long, default_value = "x25519")]
    suite: Suite,
    /// Seconds from now during which direct clients may handshake.
    #[arg(long, default_value_t = 24 * 3600)]
    valid_for: i64,
    /// Pipe streams of KIND to a TCP address: `--forward web=127.0.0.1:8080` (repeatable).
    #[arg(long, value_name = "KIND=HOST:PORT", value_parser = parse_forward)]
    forward: Vec<(String, String)>,
    /// Connections open at once (listening directly); more are closed at once.
    #[arg(long, default_value_t = ListenerConfig::default().max_connections)]
    max_connections: usize,
    /// Connections still in their handshake (listening directly); a new one
    /// past it closes the one that has waited longest.
    #[arg(long, default_value_t = ListenerConfig::default().max_handshaking)]
    max_handshaking: usize,
}

fn parse_forward(text: &str) -> Result<(String, String), String> {
    let (kind, target) = text.split_once('=').ok_or("expected KIND=HOST:PORT")?;
    if kind.trim().is_empty() || !target.contains(':') {
        return Err("expected KIND=HOST:PORT".into());
    }
    Ok((kind.to_owned(), target.to_owned()))
}

/// Reads a grant file: a server grant or a grant pair.
pub(crate) fn read_grant(path: &PathBuf, want_server: bool) -> anyhow::Result<ChannelInitGrant> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading the grant from stdin")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
    };
    if let Ok(pair) = serde_json::from_str::<GrantPair>(&text) {
        return Ok(if want_server {
            pair.server
        } else {
            pair.client
        });
    }
    serde_json::from_str(&text).with_context(|| format!("{} is not a grant", path.display()))
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let forwards: HashMap<String, String> = args.forward.iter().cloned().collect();
    let mut streams: Vec<String> = forwards.keys().cloned().collect();
    streams.push(builtin::ECHO_STREAM.to_owned());
    streams.sort();
    let router = builtin::register(
        Router::new(),
        Info {
            name: "corridor".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            streams: streams.clone(),
        },
    );
    let options = SessionOptions {
        stream_kinds: Some(streams),
        ..SessionOptions::default()
    }
    .with_router(router);
    let forwards = Arc::new(forwards);
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    if let Some(path) = &args.grant {
        let grant = read_grant(path, true)?;
        return runtime.block_on(serve_grant(grant, options, forwards));
    }
    let listen = args
        .listen
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    runtime.block_on(serve_direct(listen, &args, options, forwards))
}

async fn serve_grant(
    grant: ChannelInitGrant,
    options: SessionOptions,
    forwards: Forwards,
) -> anyhow::Result<ExitCode> {
    tracing::info!(channel = %grant.channel_id, relay = %grant.tunnel_url, "attaching as the endpoint");
    let session = Endpoint::connect_tunnel(&grant, &options)
        .await
        .context("joining the channel")?;
    tracing::info!("client connected; serving");
    builtin::serve_streams(&session, forwards).await;
    tracing::info!(
        reason = session.end_reason().unwrap_or("closed"),
        "session ended"
    );
    Ok(ExitCode::SUCCESS)
}

async fn serve_direct(
    listen: SocketAddr,
    args: &ServeArgs,
    options: SessionOptions,
    forwards: Forwards,
) -> anyhow::Result<ExitCode> {
    let config = ListenerConfig {
        max_connections: args.max_connections.max(1),
        max_handshaking: args.max_handshaking.max(1),
        ..ListenerConfig::default()
    };
    let listener = Listener::bind(&BindAddr::Tcp(listen), config)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let local = listener.local_addr().clone();
    let mut psk = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut psk);
    let mut channel = [0u8; 12];
    rand_core::OsRng.fill_bytes(&mut channel);
    let init_exp = crate::unix_now() + args.valid_for;
    let info = DirectInfo {
        ws_url: format!("ws://{local}/"),
        channel_id: format!("direct-{}", b64::encode(channel)),
        e2ee_psk_b64u: b64::encode(psk),
        channel_init_expire_at_unix_s: init_exp,
        default_suite: args.suite,
    };
    let info_json = serde_json::to_string(&info)?;
    if let Some(path) = &args.info_file {
        std::fs::write(path, &info_json).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("{{\"listen\":\"{local}\",\"direct_info\":{info_json}}}");
    let credential = DirectCredential {
        psk: psk.into(),
        suite: args.suite,
        channel_id: Some(info.channel_id.clone()),
        init_exp_unix_s: init_exp,
    };
    loop {
        let accepted = listener.accept().await;
        let (credential, options, forwards) =
            (credential.clone(), options.clone(), forwards.clone());
        tokio::spawn(async move {
            let peer = accepted.info().remote.clone();
            let handshake = accepted
                .handshake(|connection| Endpoint::accept_direct(connection, &credential, &options));
            match handshake.await {
                Ok((session, _slot)) => {
                    tracing::info!(peer = ?peer, "client connected");
                    builtin::serve_streams(&session, forwards).await;
                    tracing::info!(peer = ?peer, reason = session.end_reason().unwrap_or("closed"), "session ended");
                }
                Err(HandshakeError::Failed(error)) => {
                    tracing::warn!(peer = ?peer, reason = error.reason(), %error, "handshake refused")
                }
                Err(error) => {
                    tracing::warn!(peer = ?peer, reason = error.reason(), "handshake ended")
                }
            }
        });
    }
}
