//! `corridor relay`: flags (and flowersec-tunnel's environment variables),
//! the development default, the ready line, and signals.

use crate::dev_state;
use crate::go_flags::{parse_bool, parse_duration};
use clap::Args;
use corridor_relay::{
    AdvertiseHost, Limits, OriginPolicy, Relay, RelayConfig, RelayHandle, TlsFiles,
};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Run a relay: a drop-in for flowersec v1's tunnel server.
///
/// Endpoints attach over WebSocket with a one-time FST2 token; the relay pairs
/// the client and server of each channel and forwards their encrypted records
/// without reading them. It prints one JSON ready line on stdout, then logs to
/// stderr. SIGHUP reloads the issuer keys, SIGUSR1/SIGUSR2 turn /metrics on and
/// off, SIGINT/SIGTERM shut down.
///
/// With no --issuer-keys-file it runs in development mode: it creates (once) an
/// issuer key in --state-dir, uses audience and issuer `corridor-dev`, and
/// accepts connections without Origin and from localhost pages. Mint tokens
/// for it with `corridor token grant --tunnel-url <ws_url>`.
///
/// The flags flowersec-tunnel has can also be set by its FSEC_TUNNEL_* variables.
#[derive(Args, Debug)]
#[command(version)]
pub(crate) struct RelayArgs {
    /// Address to listen on.
    #[arg(long, env = "FSEC_TUNNEL_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Public host[:port] (or URL) the ready line names instead of the bound
    /// address, e.g. when listening on 0.0.0.0 behind a load balancer.
    #[arg(long, env = "FSEC_TUNNEL_ADVERTISE_HOST")]
    advertise_host: Option<AdvertiseHost>,
    /// Path of the WebSocket endpoint.
    #[arg(long, env = "FSEC_TUNNEL_WS_PATH", default_value = "/ws")]
    ws_path: String,
    /// Public issuer keys file {"keys":[{"kid","pubkey_b64u"}]}; reloaded on SIGHUP.
    #[arg(long, env = "FSEC_TUNNEL_ISSUER_KEYS_FILE")]
    issuer_keys_file: Option<PathBuf>,
    /// Audience tokens must name (required with --issuer-keys-file).
    #[arg(long, env = "FSEC_TUNNEL_AUD")]
    aud: Option<String>,
    /// Issuer tokens must name (required with --issuer-keys-file).
    #[arg(long, env = "FSEC_TUNNEL_ISS")]
    iss: Option<String>,
    /// Allowed browser Origin: a full origin, host, host:port, or *.domain (repeatable).
    #[arg(long, env = "FSEC_TUNNEL_ALLOW_ORIGIN", value_delimiter = ',')]
    allow_origin: Vec<String>,
    /// Accept clients that send no Origin header (non-browser endpoints).
    #[arg(
        long,
        env = "FSEC_TUNNEL_ALLOW_NO_ORIGIN",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        default_value = "false",
        value_parser = parse_bool
    )]
    allow_no_origin: bool,
    /// PEM certificate chain; with --tls-key-file, serve wss:// and https://.
    #[arg(long, env = "FSEC_TUNNEL_TLS_CERT_FILE")]
    tls_cert_file: Option<PathBuf>,
    /// PEM private key for --tls-cert-file.
    #[arg(long, env = "FSEC_TUNNEL_TLS_KEY_FILE")]
    tls_key_file: Option<PathBuf>,
    /// Serve /metrics on this separate address (enabled from the start). Without
    /// it /metrics is on the main listener, off until SIGUSR1.
    #[arg(long, env = "FSEC_TUNNEL_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// State directory for the development key.
    #[arg(long, env = "CORRIDOR_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// Print the ready line indented.
    #[arg(long)]
    pretty: bool,
    /// Worker threads (default: one per core).
    #[arg(long, env = "CORRIDOR_THREADS")]
    threads: Option<usize>,
    #[command(flatten)]
    limits: LimitArgs,
}

/// The limits; defaults are flowersec v1's.
#[derive(Args, Debug)]
#[command(next_help_heading = "Limits")]
struct LimitArgs {
    /// Maximum WebSocket connections, attached or attaching (0: the default).
    #[arg(long, env = "FSEC_TUNNEL_MAX_CONNS", default_value_t = Limits::default().max_conns)]
    max_conns: usize,
    /// Maximum channels, paired or waiting (0: the default).
    #[arg(long, env = "FSEC_TUNNEL_MAX_CHANNELS", default_value_t = Limits::default().max_channels)]
    max_channels: usize,
    /// Maximum attach message size in bytes.
    #[arg(long, default_value_t = Limits::default().max_attach_bytes)]
    max_attach_bytes: usize,
    /// Maximum forwarded message (record) size in bytes.
    #[arg(long, default_value_t = Limits::default().max_record_bytes)]
    max_record_bytes: usize,
    /// Bytes a waiting endpoint may send before its peer attaches.
    #[arg(long, default_value_t = Limits::default().max_pending_bytes)]
    max_pending_bytes: usize,
    /// Bytes queued across the relay before channels are closed (0: no budget).
    #[arg(long, alias = "max-total-pending-bytes", env = "FSEC_TUNNEL_MAX_TOTAL_QUEUED_BYTES", default_value_t = Limits::default().max_total_queued_bytes)]
    max_total_queued_bytes: usize,
    /// Bytes queued towards one endpoint before its sender is no longer read
    /// (0: the default).
    #[arg(long, env = "FSEC_TUNNEL_MAX_WRITE_QUEUE_BYTES", default_value_t = Limits::default().max_write_queue_bytes)]
    max_write_queue_bytes: usize,
    /// Memory for single-use token ids; a full cache refuses attaches with
    /// 1013 replay_cache_full until tokens expire.
    #[arg(long, default_value_t = Limits::default().max_replay_bytes)]
    max_replay_bytes: usize,
    /// Single-use token ids remembered at once (default: only
    /// --max-replay-bytes bounds them).
    #[arg(long, env = "FSEC_TUNNEL_MAX_REPLAY_ENTRIES")]
    max_replay_entries: Option<usize>,
    /// Time to send the attach message, e.g. 10s.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    attach_timeout: Duration,
    /// Tolerated clock difference with the token issuer.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    clock_skew: Duration,
    /// Longest token lifetime (exp - iat) accepted.
    #[arg(long, env = "FSEC_TUNNEL_MAX_TOKEN_LIFETIME", value_parser = parse_duration, default_value = "2m")]
    max_token_lifetime: Duration,
    /// How far ahead init_exp may lie.
    #[arg(long, env = "FSEC_TUNNEL_MAX_INIT_HORIZON", value_parser = parse_duration, default_value = "2m")]
    max_init_horizon: Duration,
    /// How long a write to an endpoint may stall (0s: forever).
    #[arg(long, env = "FSEC_TUNNEL_WRITE_TIMEOUT", value_parser = parse_duration, default_value = "10s")]
    write_timeout: Duration,
    /// Same-role replacements allowed per channel and role in --replace-window.
    #[arg(long, default_value_t = Limits::default().max_replaces_per_window)]
    max_replaces_per_window: u32,
    /// Window for --max-replaces-per-window.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    replace_window: Duration,
    /// Read-ahead buffers (up to 256 KiB each, held only while data flows) all
    /// connections may hold at once; past it they read in small pieces.
    #[arg(long, default_value_t = Limits::default().max_read_ahead_bytes)]
    max_read_ahead_bytes: usize,
    /// Quiet time after traffic before a channel gives back its connections'
    /// buffers (0s: never).
    #[arg(long, value_parser = parse_duration, default_value = "500ms")]
    compact_after: Duration,
    /// Per-connection WebSocket read buffer in bytes.
    #[arg(long, default_value_t = Limits::default().ws_read_buffer_bytes)]
    ws_read_buffer_bytes: usize,
    /// Time a connection has from accept to its WebSocket upgrade (TLS,
    /// request line and headers); plain HTTP connections close after it.
    #[arg(long, value_parser = parse_duration, default_value = "5s")]
    http_header_timeout: Duration,
    /// Connections still in their TLS or HTTP phase; a new one past it closes
    /// the one that has waited longest for its HTTP request to arrive (a
    /// connection whose request has arrived goes only when no other is left).
    #[arg(long, default_value_t = Limits::default().max_handshaking_conns)]
    max_handshaking_conns: usize,
}

impl LimitArgs {
    fn into_limits(self) -> Limits {
        let defaults = Limits::default();
        // flowersec-tunnel reads 0 as "the default" for these three.
        let or_default = |value: usize, default: usize| if value == 0 { default } else { value };
        Limits {
            max_conns: or_default(self.max_conns, defaults.max_conns),
            max_channels: or_default(self.max_channels, defaults.max_channels),
            max_attach_bytes: self.max_attach_bytes,
            max_record_bytes: self.max_record_bytes,
            max_pending_bytes: self.max_pending_bytes,
            max_total_queued_bytes: self.max_total_queued_bytes,
            max_write_queue_bytes: or_default(
                self.max_write_queue_bytes,
                defaults.max_write_queue_bytes,
            ),
            max_replay_bytes: self.max_replay_bytes,
            max_replay_entries: self.max_replay_entries,
            attach_timeout: self.attach_timeout,
            clock_skew: self.clock_skew,
            max_token_lifetime: self.max_token_lifetime,
            max_init_horizon: self.max_init_horizon,
            write_timeout: self.write_timeout,
            max_replaces_per_window: self.max_replaces_per_window,
            replace_window: self.replace_window,
            ws_read_buffer_bytes: self.ws_read_buffer_bytes,
            max_read_ahead_bytes: self.max_read_ahead_bytes,
            compact_after: self.compact_after,
            http_header_timeout: self.http_header_timeout,
            max_handshaking_conns: self.max_handshaking_conns,
        }
    }
}

/// flowersec-tunnel 0.27.0's multi-tenant and policy settings, which corridor
/// does not implement. Their flags are unknown to clap (exit 2); their
/// variables would be ignored silently, so a deployment that relies on an
/// authorizer or tenant bounds could run without them: refuse instead.
const UNSUPPORTED_FLOWERSEC_VARIABLES: [&str; 9] = [
    "FSEC_TUNNEL_TENANTS_FILE",
    "FSEC_TUNNEL_MAX_TENANT_QUEUED_BYTES",
    "FSEC_TUNNEL_STATS_LISTEN",
    "FSEC_TUNNEL_ATTACH_AUTHORIZER_URL",
    "FSEC_TUNNEL_OBSERVE_AUTHORIZER_URL",
    "FSEC_TUNNEL_AUTHORIZER_HEADER",
    "FSEC_TUNNEL_POLICY_REQUEST_TIMEOUT",
    "FSEC_TUNNEL_POLICY_OBSERVE_INTERVAL",
    "FSEC_TUNNEL_POLICY_BATCH_SIZE",
];

pub(crate) fn run(args: RelayArgs) -> anyhow::Result<ExitCode> {
    let unsupported = UNSUPPORTED_FLOWERSEC_VARIABLES
        .iter()
        .find(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()));
    if let Some(name) = unsupported {
        return Ok(crate::config_error(format!(
            "{name} is set, but corridor relay has no multi-tenant or policy support; \
             unset it, or keep flowersec-tunnel for that deployment"
        )));
    }
    let pretty = args.pretty;
    let threads = args.threads;
    let config = match build_config(args) {
        Ok(config) => config,
        Err(message) => return Ok(crate::config_error(message)),
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = threads {
        builder.worker_threads(threads.max(1));
    }
    let runtime = builder.enable_all().build()?;
    // Flags, variables and "0 means the default" all end here: say what won.
    tracing::info!(limits = ?config.limits, "effective limits");
    runtime.block_on(async move {
        let relay = match Relay::bind(config).await {
            Ok(relay) => relay,
            Err(corridor_relay::RelayError::Bind { addr, source }) => {
                anyhow::bail!("listen on {addr}: {source}")
            }
            Err(error) => return Ok(crate::config_error(error)),
        };
        let line = relay.ready_line();
        let text = if pretty {
            serde_json::to_string_pretty(&line)?
        } else {
            line.to_string()
        };
        println!("{text}");
        tracing::info!(
            ws_url = %relay.ws_url(),
            "relay ready; mint a channel with: corridor token grant --tunnel-url {}",
            relay.ws_url()
        );
        spawn_signal_handlers(relay.handle())?;
        relay.run().await;
        Ok(ExitCode::SUCCESS)
    })
}

fn build_config(args: RelayArgs) -> Result<RelayConfig, String> {
    let dev = args.issuer_keys_file.is_none();
    let (keys_file, aud, iss) = match args.issuer_keys_file {
        Some(file) => (
            file,
            args.aud
                .ok_or("missing --aud (required with --issuer-keys-file)")?,
            args.iss
                .ok_or("missing --iss (required with --issuer-keys-file)")?,
        ),
        None => {
            let dir = args.state_dir.unwrap_or_else(dev_state::default_dir);
            dev_state::ensure_dev_key(&dir).map_err(|e| format!("--state-dir: {e:#}"))?;
            (
                dir.join(dev_state::PUBLIC_KEYS_FILE),
                args.aud.unwrap_or_else(|| dev_state::DEV_AUDIENCE.into()),
                args.iss.unwrap_or_else(|| dev_state::DEV_ISSUER.into()),
            )
        }
    };
    let mut origins = OriginPolicy {
        allowed: args.allow_origin,
        allow_no_origin: args.allow_no_origin,
    };
    if dev && origins.allowed.is_empty() {
        origins.allowed = vec!["localhost".into(), "127.0.0.1".into(), "[::1]".into()];
        origins.allow_no_origin = true;
    }
    if origins.allowed.is_empty() && !origins.allow_no_origin {
        return Err(
            "missing --allow-origin (or --allow-no-origin for non-browser endpoints)".into(),
        );
    }
    let tls = match (args.tls_cert_file, args.tls_key_file) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        (None, None) => None,
        _ => return Err("tls requires both --tls-cert-file and --tls-key-file".into()),
    };
    let mut config = RelayConfig::new(keys_file, &aud, &iss);
    config.listen = args.listen;
    config.ws_path = args.ws_path;
    config.advertise_host = args.advertise_host;
    config.origins = origins;
    config.tls = tls;
    config.metrics_listen = args.metrics_listen;
    config.metrics_enabled = args.metrics_listen.is_some();
    config.limits = args.limits.into_limits();
    Ok(config)
}

fn spawn_signal_handlers(handle: RelayHandle) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut usr2 = signal(SignalKind::user_defined2())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = hup.recv() => match handle.reload_keys() {
                    Ok(count) => tracing::info!(keys = count, "reloaded issuer keys"),
                    Err(error) => tracing::warn!(%error, "reload keys failed; keeping the old keys"),
                },
                _ = usr1.recv() => {
                    handle.set_metrics_enabled(true);
                    tracing::info!("metrics enabled");
                }
                _ = usr2.recv() => {
                    handle.set_metrics_enabled(false);
                    tracing::info!("metrics disabled");
                }
                _ = term.recv() => break,
                _ = int.recv() => break,
            }
        }
        tracing::info!("shutting down");
        handle.shutdown();
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("2m0s"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("s").is_err());
    }
}
