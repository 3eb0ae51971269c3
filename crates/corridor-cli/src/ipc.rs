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
use corridor::tls::{PkiDir, load_client_config};
use corridor_core::identity::PublicKey;
use corridor_ipc::hashes::parse_hex;
use corridor_ipc::{
    IpcAddr, IpcClientConfig, IpcClientTls, IpcServer, IpcServerConfig, PeerPolicy,
};
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
    Certs(CertsArgs),
}

/// Make a development PKI for mutual TLS in one directory: a CA (ca.pem,
/// ca-key.pem) and a server and a client certificate it signed
/// (server-cert.pem, server-key.pem, client-cert.pem, client-key.pem), each
/// file 0600. `ipc serve --tls-dir` and `ipc call --tls-dir` read them. An
/// existing set is never overwritten. A real deployment brings its own CA.
#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  corridor ipc certs --out-dir ./pki
  corridor ipc serve --socket @mydaemon --identity server.key --tls-dir ./pki
  corridor ipc call --socket @mydaemon --tls-dir ./pki whoami")]
struct CertsArgs {
    /// Where the files go (created 0700).
    #[arg(long)]
    out_dir: PathBuf,
    /// A name the server certificate is for (repeatable; clients check it
    /// with --tls-server-name).
    #[arg(long = "server-name", default_values_t = [DEFAULT_SERVER_NAME.to_owned()])]
    server_names: Vec<String>,
}

/// The name `ipc certs` puts in the server certificate and `ipc call` checks.
const DEFAULT_SERVER_NAME: &str = "corridor-ipc";

/// Serve local clients on a Unix socket: each client process is checked
/// before its handshake (uid, gid, the SHA-256 of the executable it runs),
/// then authenticated by its key (Noise, the server's key pinned by the
/// client), or with --tls-dir by its certificate (mutual TLS).
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
    /// bind a name first; the client's pinned key is what makes it safe), or
    /// \\.\pipe\NAME for a Windows named pipe (untested).
    #[arg(long)]
    socket: IpcAddr,
    /// The server's identity file (created, 0600, if missing).
    #[arg(long)]
    identity: PathBuf,
    /// A client public key allowed to connect (repeatable). With --tls-dir,
    /// optional: the client certificate is the credential.
    #[arg(
        long = "client-key",
        value_name = "KEY",
        required_unless_present = "tls_dir",
        allow_hyphen_values = true
    )]
    client_keys: Vec<String>,
    /// Mutual TLS with the PKI in this directory (`corridor ipc certs`):
    /// the server presents server-cert.pem and every client must present a
    /// certificate signed by ca.pem.
    #[arg(long)]
    tls_dir: Option<PathBuf>,
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
    /// The server's socket (a path, @NAME, or \\.\pipe\NAME on Windows).
    #[arg(long)]
    socket: IpcAddr,
    /// This client's identity file (`corridor keygen --kind identity`).
    #[arg(long, required_unless_present = "tls_dir")]
    identity: Option<PathBuf>,
    /// The server's public key (its ready line's `server_key`).
    #[arg(long, allow_hyphen_values = true, required_unless_present = "tls_dir")]
    server_key: Option<String>,
    /// Mutual TLS with the PKI in this directory: present
    /// client-cert.pem, trust a server certificate signed by ca.pem.
    #[arg(long)]
    tls_dir: Option<PathBuf>,
    /// The name the server's certificate must carry.
    #[arg(long, default_value = DEFAULT_SERVER_NAME)]
    tls_server_name: String,
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
        IpcCommand::Certs(args) => certs(args),
    }
}

fn certs(args: CertsArgs) -> anyhow::Result<ExitCode> {
    let pki = PkiDir::new(&args.out_dir);
    pki.create(&args.server_names)?;
    println!(
        "{}",
        serde_json::json!({
            "ca": pki.ca, "server_cert": pki.server_cert, "server_key": pki.server_key,
            "client_cert": pki.client_cert, "client_key": pki.client_key,
            "server_names": args.server_names,
        })
    );
    Ok(ExitCode::SUCCESS)
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
    config.tls = args.tls_dir.as_deref().map(|dir| PkiDir::new(dir).server());
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
    let pinned = match (&args.identity, &args.server_key) {
        (Some(identity), Some(server_key)) => {
            let secret = FileKeyStore::new(identity)
                .load()
                .with_context(|| format!("{}", identity.display()))?;
            Some((secret, public_key(server_key)?))
        }
        _ => None,
    };
    let mut config = match (&args.tls_dir, pinned) {
        (Some(dir), pinned) => {
            let pki = PkiDir::new(dir);
            let tls = IpcClientTls {
                config: load_client_config(&pki.ca, Some((&pki.client_cert, &pki.client_key)))?,
                server_name: args.tls_server_name.clone(),
            };
            let mut config = IpcClientConfig::mutual_tls(args.socket, tls);
            // With a key and a pin as well, both must pass.
            if let Some((secret, server_key)) = pinned {
                config.identity = secret;
                config.server_key = Some(server_key);
            }
            config
        }
        (None, Some((secret, server_key))) => IpcClientConfig::new(args.socket, secret, server_key),
        (None, None) => anyhow::bail!("--identity and --server-key are needed without --tls-dir"),
    };
    config.server_uid = args.server_uid;
    let session = corridor_ipc::connect(&config, &SessionOptions::default()).await?;
    let code = act(&session, &args.action).await?;
    session.close().await;
    Ok(code)
}
