//! `corridor ipc`: a mutually authenticated Unix-socket service and its
//! client, checking which user and which program calls.

use crate::call::{Action, act};
use anyhow::Context as _;
use clap::{Args, Subcommand};
use corridor::SessionOptions;
use corridor::builtin::{self, Info};
use corridor::keystore::{FileKeyStore, KeyStore as _};
use corridor::listener::ListenerConfig;
use corridor::rpc::Router;
use corridor_core::identity::PublicKey;
use corridor_ipc::hashes::parse_hex;
use corridor_ipc::{IpcAddr, IpcClientConfig, IpcServer, IpcServerConfig, PeerPolicy};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Args, Debug)]
pub(crate) struct IpcArgs {
    #[command(subcommand)]
    command: IpcCommand,
}

#[derive(Subcommand, Debug)]
enum IpcCommand {
    Serve(ServeArgs),
    Call(CallArgs),
}

/// Serve local clients on a Unix socket: each client process is checked
/// before its handshake (uid, gid, the SHA-256 of the executable it runs),
/// then authenticated by its key (Noise, the server's key pinned by the
/// client).
///
/// It answers the built-in RPC methods ping (1), echo (2), info (3) and
/// whoami (4: the caller's uid, gid, pid, executable digest and key), and
/// echoes streams of kind "echo". It prints one JSON ready line with the
/// socket and its public key. SIGINT/SIGTERM: no new clients, the socket
/// file is removed, open sessions get a few seconds to finish.
#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  corridor keygen --kind identity --out client.key      # prints the client's public key
  corridor ipc serve --socket /run/mydaemon/ipc.sock --identity server.key \\
      --client-key KEY --allow-uid 1000 --client-hash $(sha256sum /usr/bin/myclient | cut -c1-64)
  corridor ipc call --socket /run/mydaemon/ipc.sock --identity client.key --server-key KEY whoami")]
struct ServeArgs {
    /// The socket: a path (its directory is created 0700 and must be the
    /// server user's alone) or @NAME for a Linux abstract socket (anyone can
    /// bind a name first; the client's pinned key is what makes it safe).
    #[arg(long)]
    socket: IpcAddr,
    /// The server's identity file (created, 0600, if missing).
    #[arg(long)]
    identity: PathBuf,
    /// A client public key allowed to connect (repeatable).
    #[arg(
        long = "client-key",
        value_name = "KEY",
        required = true,
        allow_hyphen_values = true
    )]
    client_keys: Vec<String>,
    /// Allowed client uid (repeatable); none: any.
    #[arg(long = "allow-uid", value_name = "UID")]
    uids: Vec<u32>,
    /// Allowed client gid (repeatable); none: any.
    #[arg(long = "allow-gid", value_name = "GID")]
    gids: Vec<u32>,
    /// SHA-256 (hex) of an allowed client executable (repeatable); none: no
    /// check. Flyme's FLYME_CLIENT_BINARY_HASH(ES) are read as well, unless
    /// FLYME_ENFORCE_CLIENT_HASH_VALIDATION=false.
    #[arg(long = "client-hash", value_name = "SHA256")]
    hashes: Vec<String>,
    /// Seconds a client has from connecting to finishing its handshake.
    #[arg(long, default_value_t = 10)]
    handshake_timeout: u64,
}

/// Call an IPC server: connect, pin its key, run one method or pipe a stream.
#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  corridor ipc call --socket @mydaemon --identity client.key --server-key KEY ping
  echo hi | corridor ipc call --socket @mydaemon --identity client.key --server-key KEY --stream echo")]
struct CallArgs {
    /// The server's socket (a path or @NAME).
    #[arg(long)]
    socket: IpcAddr,
    /// This client's identity file (`corridor keygen --kind identity`).
    #[arg(long)]
    identity: PathBuf,
    /// The server's public key (its ready line's `server_key`).
    #[arg(long, allow_hyphen_values = true)]
    server_key: String,
    /// Refuse a server process not running as this uid.
    #[arg(long)]
    server_uid: Option<u32>,
    #[command(flatten)]
    action: Action,
}

pub(crate) fn run(args: IpcArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    match args.command {
        IpcCommand::Serve(args) => runtime.block_on(serve(args)),
        IpcCommand::Call(args) => runtime.block_on(call(args)),
    }
}

fn public_key(text: &str) -> anyhow::Result<PublicKey> {
    PublicKey::from_b64u(text.trim())
        .with_context(|| format!("{text:?} is not a base64url X25519 public key"))
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let (identity, _) = FileKeyStore::new(&args.identity)
        .load_or_create()
        .with_context(|| format!("{}", args.identity.display()))?;
    let client_keys = args
        .client_keys
        .iter()
        .map(|key| public_key(key))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut policy = PeerPolicy {
        uids: args.uids.iter().copied().collect(),
        gids: args.gids.iter().copied().collect(),
        ..PeerPolicy::default()
    };
    for hash in &args.hashes {
        policy.executables.insert(
            parse_hex(hash)
                .with_context(|| format!("--client-hash {hash:?} is not 64 hex digits"))?,
        );
    }
    policy.add_flyme_env(|name| std::env::var(name).ok())?;
    let server_key = identity.public_key();
    let mut config = IpcServerConfig::new(args.socket.clone(), identity, client_keys);
    config.policy = policy;
    config.listener = ListenerConfig {
        handshake_timeout: Duration::from_secs(args.handshake_timeout.max(1)),
        ..ListenerConfig::default()
    };
    let server = IpcServer::bind(config).await?;
    println!(
        "{}",
        serde_json::json!({"socket": args.socket.to_string(), "server_key": server_key.to_b64u()})
    );
    let handle = server.handle();
    tokio::spawn(async move {
        crate::signals::terminated().await;
        tracing::info!("shutting down");
        handle.shutdown();
    });
    let router = builtin::register(
        Router::new(),
        Info {
            name: "corridor ipc".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            streams: vec![builtin::ECHO_STREAM.into()],
        },
    );
    let options = SessionOptions {
        stream_kinds: Some(vec![builtin::ECHO_STREAM.into()]),
        ..SessionOptions::default()
    }
    .with_router(router);
    server
        .serve(options, |session| async move {
            builtin::serve_streams(&session, Arc::default()).await;
        })
        .await;
    Ok(ExitCode::SUCCESS)
}

async fn call(args: CallArgs) -> anyhow::Result<ExitCode> {
    let identity = FileKeyStore::new(&args.identity)
        .load()
        .with_context(|| format!("{}", args.identity.display()))?;
    let mut config = IpcClientConfig::new(args.socket, identity, public_key(&args.server_key)?);
    config.server_uid = args.server_uid;
    let session = corridor_ipc::connect(&config, &SessionOptions::default()).await?;
    let code = act(&session, &args.action).await?;
    session.close().await;
    Ok(code)
}
