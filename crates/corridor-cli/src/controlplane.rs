//! `corridor controlplane`: mint a fresh relay channel for every client that
//! asks, pushing the server half to a connected `corridor serve --controlplane`.

use crate::dev_state;
use crate::token::{IssuerArgs, issuer};
use anyhow::Context as _;
use clap::Args;
use corridor::keystore::{FileKeyStore, KeyStore as _};
use corridor_controlplane::{
    ControlNoise, ControlPlane, ControlPlaneConfig, EndpointKeys, RateLimit, parse_tokens_file,
};
use corridor_core::grant::{GrantParams, GrantSuite};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Run a control plane: endpoints register over a control session, clients
/// ask `POST /v1/connect/artifact` for an endpoint id and get a fresh channel.
///
/// Without flags it signs with the same development key as `corridor relay`
/// and names that relay's default URL, so the two start side by side. It
/// prints one JSON ready line. With no --api-tokens-file only loopback
/// callers are served.
#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  corridor relay &
  corridor controlplane &
  corridor serve --controlplane http://127.0.0.1:8090 --endpoint-id demo &
  corridor call --controlplane http://127.0.0.1:8090 --endpoint-id demo ping")]
pub(crate) struct ControlPlaneArgs {
    /// Address of the API and of endpoints' control sessions.
    #[arg(
        long,
        env = "CORRIDOR_CONTROLPLANE_LISTEN",
        default_value = "127.0.0.1:8090"
    )]
    listen: SocketAddr,
    /// The relay's WebSocket URL, written into every grant.
    #[arg(
        long,
        env = "CORRIDOR_TUNNEL_URL",
        default_value = "ws://127.0.0.1:8080/ws"
    )]
    tunnel_url: String,
    #[command(flatten)]
    issuer: IssuerArgs,
    /// Suites clients may use: x25519, p256 (the first is the default).
    #[arg(long, value_delimiter = ',', default_value = "x25519")]
    suites: Vec<GrantSuite>,
    /// Bearer tokens API callers must present, one per line. Without it only
    /// loopback callers are served.
    #[arg(long)]
    api_tokens_file: Option<PathBuf>,
    /// The PSK endpoints' control sessions may use (created if missing);
    /// default: `controlplane_psk` in the state directory. Any holder may
    /// register any endpoint id. Off when --endpoint-keys is given without it.
    #[arg(long)]
    control_psk_file: Option<PathBuf>,
    /// Endpoint keys allowed to open Noise control sessions, one per line:
    /// `PUBLIC_KEY [ENDPOINT_ID ...]` (no ids or `*`: any id). Endpoints pin
    /// the control plane's key, printed as `control_key` in the ready line.
    #[arg(long)]
    endpoint_keys: Option<PathBuf>,
    /// The control plane's identity file (created if missing); default:
    /// `controlplane_identity.json` in the state directory.
    #[arg(long, requires = "endpoint_keys")]
    identity: Option<PathBuf>,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = corridor_controlplane::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// Requests per second each caller may make.
    #[arg(long, default_value_t = RateLimit::default().per_second)]
    rate: NonZeroU32,
    /// Requests a caller may make at once above --rate.
    #[arg(long, default_value_t = RateLimit::default().burst)]
    burst: NonZeroU32,
    /// Seconds an endpoint has to take a pushed grant before another is tried.
    #[arg(long, default_value_t = 5)]
    push_timeout: u64,
}

/// The control plane's identity file in the state directory.
const CONTROL_IDENTITY_FILE: &str = "controlplane_identity.json";

pub(crate) fn run(args: ControlPlaneArgs) -> anyhow::Result<ExitCode> {
    let (key, audience, issuer_id) = issuer(&args.issuer)?;
    let state_dir = args
        .issuer
        .state_dir
        .clone()
        .unwrap_or_else(dev_state::default_dir);
    let control_noise = match &args.endpoint_keys {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let endpoint_keys =
                EndpointKeys::parse(&text).with_context(|| format!("{}", path.display()))?;
            let identity_file = args
                .identity
                .clone()
                .unwrap_or_else(|| state_dir.join(CONTROL_IDENTITY_FILE));
            let (identity, _) = FileKeyStore::new(&identity_file)
                .load_or_create()
                .with_context(|| format!("{}", identity_file.display()))?;
            Some(ControlNoise {
                identity,
                endpoint_keys,
            })
        }
        None => None,
    };
    // With endpoint keys the PSK is off unless asked for by name.
    let psk_file = match (&args.control_psk_file, &control_noise) {
        (Some(path), _) => Some(path.clone()),
        (None, None) => Some(dev_state::control_psk_file(Some(&state_dir))),
        (None, Some(_)) => None,
    };
    let control_psk = match &psk_file {
        Some(path) => Some(dev_state::control_psk(path, true)?.into()),
        None => None,
    };
    let api_tokens = match &args.api_tokens_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let tokens = parse_tokens_file(&text);
            if tokens.is_empty() {
                return Ok(crate::config_error(format!(
                    "{} holds no tokens",
                    path.display()
                )));
            }
            tokens
        }
        None => Vec::new(),
    };
    let grants = GrantParams {
        tunnel_url: args.tunnel_url,
        audience,
        issuer: issuer_id,
        init_window_secs: args.issuer.init_window,
        idle_timeout_secs: args.issuer.idle_timeout,
        token_exp_secs: args.issuer.token_exp,
        suites: args.suites,
    };
    let mut config = ControlPlaneConfig::new(key, grants);
    config.control_psk = control_psk;
    config.control_noise = control_noise;
    config.listen = args.listen;
    config.api_tokens = api_tokens;
    config.max_body_bytes = args.max_body_bytes.max(1);
    config.rate = RateLimit {
        per_second: args.rate,
        burst: args.burst,
    };
    config.push_timeout = Duration::from_secs(args.push_timeout.max(1));
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async {
        let control_plane = ControlPlane::bind(config)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        println!("{}", control_plane.ready_line());
        tracing::info!(
            psk_file = ?psk_file,
            "control plane ready; endpoints join with: corridor serve --controlplane {} --endpoint-id NAME",
            control_plane.url()
        );
        let handle = control_plane.handle();
        tokio::spawn(async move {
            crate::signals::terminated().await;
            tracing::info!("shutting down");
            handle.shutdown();
        });
        control_plane.run().await;
        Ok(ExitCode::SUCCESS)
    })
}
