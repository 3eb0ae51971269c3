//! `corridor serve`: run an endpoint, through a relay with a grant or listening
//! directly, offering the built-in RPC, echo streams and TCP forwards.

use anyhow::Context as _;
use clap::Args;
use corridor::builtin::{self, Forwards, Info};
use corridor::keystore::{FileKeyStore, KeyStore as _};
use corridor::listener::{BindAddr, HandshakeError, Listener, ListenerConfig};
use corridor::reconnect::Link;
use corridor::rpc::{Failure, Router};
use corridor::{DirectCredential, Endpoint, SessionOptions};
use corridor_controlplane::agent::{self, AgentConfig, ControlCredential, OnGrant};
use corridor_controlplane::protocol;
use corridor_core::b64;
use corridor_core::fsec1::Suite;
use corridor_core::grant::{ChannelInitGrant, DirectInfo, GrantPair};
use corridor_core::identity::PublicKey;
use rand_core::RngCore;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Semaphore;

/// Run an endpoint that clients reach through a relay (--controlplane or
/// --grant) or directly (--listen).
///
/// It answers the built-in RPC methods ping (type_id 1), echo (2) and info (3),
/// echoes streams of kind "echo", and pipes each --forward kind to its TCP
/// address. With --controlplane it keeps a control session to `corridor
/// controlplane`, registered as --endpoint-id, and serves every client the
/// control plane sends (each on a fresh relay channel) until SIGINT or
/// SIGTERM, which let open sessions finish. With --grant it serves the one
/// session that grant admits, then exits. Listening directly, it prints one
/// JSON line with the direct connect info a client needs (`corridor call
/// --direct-info`), then serves every client that completes the handshake.
#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  corridor serve --controlplane http://127.0.0.1:8090 --endpoint-id demo
  corridor serve --grant pair.json --forward ssh=127.0.0.1:22
  corridor serve --listen 127.0.0.1:9000 --info-file info.json")]
pub(crate) struct ServeArgs {
    /// A control plane's URL: serve every client it sends for --endpoint-id.
    #[arg(long, requires = "endpoint_id", conflicts_with_all = ["grant", "listen"])]
    controlplane: Option<String>,
    /// The id clients ask the control plane for.
    #[arg(long, requires = "controlplane")]
    endpoint_id: Option<String>,
    /// The control sessions' PSK file; default: `controlplane_psk` in the
    /// state directory, where `corridor controlplane` creates it.
    #[arg(long, requires = "controlplane")]
    control_psk_file: Option<PathBuf>,
    /// This endpoint's identity file (`corridor keygen --kind identity`):
    /// with --controlplane-key, the control session runs Noise and proves
    /// which endpoint this is, in place of the PSK.
    #[arg(long, requires = "controlplane_key")]
    identity: Option<PathBuf>,
    /// The control plane's public key (`control_key` in its ready line).
    #[arg(long, requires_all = ["controlplane", "identity"], allow_hyphen_values = true)]
    controlplane_key: Option<String>,
    /// State directory holding the default control PSK file.
    #[arg(long, env = "CORRIDOR_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Client sessions served at once through the control plane; grants
    /// beyond it are refused (the control plane tries another endpoint).
    #[arg(long, default_value_t = 256)]
    max_sessions: usize,
    /// A grant file (a server grant, or a {client, server} pair from `corridor
    /// token grant`); `-` reads stdin. One session per grant: its tokens are single-use.
    #[arg(long, conflicts_with = "listen")]
    grant: Option<PathBuf>,
    /// Listen for direct WebSocket clients on this address.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Browser origins direct clients may come from (repeatable; the
    /// relay's --allow-origin forms). Default: none; clients that send no
    /// Origin, such as `corridor call`, are always served.
    #[arg(long, requires = "listen", value_name = "ORIGIN")]
    allow_origin: Vec<String>,
    /// Send this `Origin` header to the relay or control plane, for relays
    /// that allow only listed origins (flowersec's FSEC_ORIGIN). Default: none.
    #[arg(long, env = "FSEC_ORIGIN")]
    origin: Option<String>,
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
    /// past it closes the one that has waited longest for its upgrade
    /// request to arrive (one whose request has arrived goes only when no
    /// other is left).
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
    let mut options = SessionOptions {
        stream_kinds: Some(streams),
        ..SessionOptions::default()
    }
    .with_router(router);
    options.ws.origin.clone_from(&args.origin);
    options
        .ws
        .allowed_origins
        .allowed
        .clone_from(&args.allow_origin);
    let forwards = Arc::new(forwards);
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    if let (Some(url), Some(endpoint_id)) = (&args.controlplane, &args.endpoint_id) {
        let credential = match (&args.identity, &args.controlplane_key) {
            (Some(path), Some(key)) => ControlCredential::Noise {
                identity: FileKeyStore::new(path)
                    .load()
                    .with_context(|| format!("{}", path.display()))?,
                controlplane_key: PublicKey::from_b64u(key)
                    .context("--controlplane-key is not a base64url X25519 public key")?,
            },
            _ => {
                let psk_file = args
                    .control_psk_file
                    .clone()
                    .unwrap_or_else(|| crate::dev_state::control_psk_file(args.state_dir.as_ref()));
                ControlCredential::Psk(crate::dev_state::control_psk(&psk_file, false)?.into())
            }
        };
        let config = AgentConfig::with(url, endpoint_id, credential);
        let max_sessions = args.max_sessions.max(1);
        return runtime.block_on(serve_controlplane(config, max_sessions, options, forwards));
    }
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

async fn serve_controlplane(
    config: AgentConfig,
    max_sessions: usize,
    options: SessionOptions,
    forwards: Forwards,
) -> anyhow::Result<ExitCode> {
    let permits = Arc::new(Semaphore::new(max_sessions));
    let refused = Arc::new(AtomicU64::new(0));
    let on_grant: OnGrant = {
        let permits = permits.clone();
        Arc::new(move |grant: ChannelInitGrant| {
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                let refused = refused.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::warn!(
                    max_sessions,
                    refused,
                    "at --max-sessions: a client's channel was refused"
                );
                return Err(Failure::new(503, protocol::REFUSED_AT_CAPACITY));
            };
            let (options, forwards) = (options.clone(), forwards.clone());
            tokio::spawn(async move {
                let _permit = permit;
                serve_pushed_grant(grant, options, forwards).await;
            });
            Ok(())
        })
    };
    let (endpoint_id, url) = (config.endpoint_id.clone(), config.controlplane_url.clone());
    let link = agent::spawn(config, on_grant)?;
    let mut announced = false;
    let mut changes = link.watch();
    loop {
        tokio::select! {
            _ = crate::signals::terminated() => break,
            changed = changes.changed() => {
                if changed.is_err() {
                    break;
                }
                match &*changes.borrow_and_update() {
                    Link::Up(_) => {
                        if !announced {
                            // The ready line, once: scripts wait for it.
                            println!("{}", serde_json::json!({"endpoint_id": endpoint_id, "controlplane": url}));
                            announced = true;
                        }
                        tracing::info!(endpoint_id, "registered with the control plane; serving")
                    }
                    Link::Connecting { attempt, last_error: Some(error) } => {
                        tracing::warn!(attempt, %error, "control session down; reconnecting")
                    }
                    _ => {}
                }
            }
        }
    }
    // No new clients; the open sessions finish (within a bound).
    link.stop();
    let open = max_sessions - permits.available_permits();
    tracing::info!(open, "draining: waiting for open sessions to end");
    let all = u32::try_from(max_sessions).unwrap_or(u32::MAX);
    if tokio::time::timeout(DRAIN_TIMEOUT, permits.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("sessions still open after {DRAIN_TIMEOUT:?}; exiting");
    }
    Ok(ExitCode::SUCCESS)
}

/// How long SIGTERM waits for open sessions.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Attaches for one pushed grant and serves its client. A grant that cannot
/// be used (expired, refused by the relay, no client within its init
/// window) is logged and dropped.
async fn serve_pushed_grant(grant: ChannelInitGrant, options: SessionOptions, forwards: Forwards) {
    let channel = grant.channel_id.clone();
    match agent::attach(&grant, &options).await {
        Ok(session) => {
            tracing::debug!(channel, "client connected");
            builtin::serve_streams(&session, forwards).await;
            tracing::debug!(
                channel,
                reason = session.end_reason().unwrap_or("closed"),
                "session ended"
            );
        }
        Err(error) => tracing::warn!(channel, %error, "a pushed grant could not be used"),
    }
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
