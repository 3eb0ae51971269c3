//! `corridor proxy`: the ingress proxy's server, its operator calls, and
//! the agent that serves a private machine's hosts through it.

use anyhow::Context as _;
use clap::{Args, Subcommand};
use corridor::tls::ServerTlsFiles;
use corridor_proxy::{
    Agent, AgentConfig, ApiClient, ApiUrl, Limits, ProxyConfig, ProxyServer, Routes, ServerTrust,
};
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Args, Debug)]
pub(crate) struct ProxyArgs {
    #[command(subcommand)]
    command: ProxyCommand,
}

#[derive(Subcommand, Debug)]
enum ProxyCommand {
    Serve(ServeArgs),
    Register(RegisterArgs),
    Unregister(HostArgs),
    List(ApiArgs),
    Agent(AgentArgs),
}

/// Run the public proxy: visitors on the HTTP ports are routed by their
/// Host header, visitors on the TLS ports by their ClientHello's server
/// name (TLS is not terminated: the private service holds the certificate),
/// each to an agent subscribed to that host, which dials back.
///
/// The control API (JSON-RPC 2.0 over WebSocket, wss://API/api), /healthz
/// and /metrics share the API port. With no --cert, a self-signed
/// certificate is made in the state directory on first start; its pin is in
/// the ready line, for agents' --server-pin. The operator's token is made
/// there too (admin.token). Registrations survive restarts.
/// SIGUSR1/SIGUSR2 turn /metrics on and off (on at start). SIGINT/SIGTERM:
/// no new visitors, open connections get --drain seconds.
#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  corridor proxy serve                                      # loopback ports, printed in the ready line
  corridor proxy serve --http 0.0.0.0:80 --https 0.0.0.0:443 --api 0.0.0.0:7443 --data 0.0.0.0:7444")]
struct ServeArgs {
    /// A plain HTTP port, routed by Host (repeatable).
    #[arg(long = "http", value_name = "ADDR", default_value = "127.0.0.1:8080")]
    http: Vec<SocketAddr>,
    /// A TLS port, routed by SNI (repeatable).
    #[arg(long = "https", value_name = "ADDR", default_value = "127.0.0.1:8443")]
    https: Vec<SocketAddr>,
    /// The control API port (TLS).
    #[arg(long, default_value = "127.0.0.1:7443")]
    api: SocketAddr,
    /// The port agents dial back to (TLS).
    #[arg(long, default_value = "127.0.0.1:7444")]
    data: SocketAddr,
    /// The data address told to agents, when it is not --data (NAT).
    #[arg(long, value_name = "HOST:PORT")]
    data_advertise: Option<String>,
    /// Registrations, the admin token and the self-signed certificate
    /// (default: $CORRIDOR_STATE_DIR/proxy, or ~/.local/state/corridor/proxy).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// A PEM certificate chain for the API and data ports (with --key).
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// The PEM private key of --cert.
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// The operator's token file (default: STATE_DIR/admin.token, made if missing).
    #[arg(long)]
    admin_token_file: Option<PathBuf>,
    /// Visitor connections open at once.
    #[arg(long, default_value_t = Limits::default().max_visitors)]
    max_visitors: usize,
    /// Visitors being sniffed at once (past it the oldest is closed).
    #[arg(long, default_value_t = Limits::default().max_sniffing)]
    max_sniffing: usize,
    /// The most bytes read to find the host.
    #[arg(long, default_value_t = Limits::default().preamble_bytes)]
    preamble_bytes: usize,
    /// Milliseconds a visitor has to name its host.
    #[arg(long, default_value_t = 5000)]
    sniff_timeout_ms: u64,
    /// Milliseconds an agent has to dial back.
    #[arg(long, default_value_t = 5000)]
    dialback_timeout_ms: u64,
    /// Dial-backs waiting per agent.
    #[arg(long, default_value_t = Limits::default().max_pending_per_agent)]
    max_pending_per_agent: usize,
    /// Seconds open connections get after SIGTERM.
    #[arg(long, default_value_t = 10)]
    drain: u64,
    /// New visitor connections per second from one IP address (0: no limit).
    #[arg(long, default_value_t = Limits::default().per_ip_rate)]
    per_ip_rate: u32,
    /// The burst one IP address may open above --per-ip-rate.
    #[arg(long, default_value_t = Limits::default().per_ip_burst)]
    per_ip_burst: u32,
}

/// Where the control API is and how it is trusted.
#[derive(Args, Debug)]
struct ApiArgs {
    /// The server's control API.
    #[arg(long, default_value = "wss://127.0.0.1:7443/api")]
    api: ApiUrl,
    /// The server's key pin (its ready line's `pin`).
    #[arg(long, value_name = "sha256/BASE64", conflicts_with = "server_ca")]
    server_pin: Option<String>,
    /// CA certificates (PEM) the server's certificate chains to; without
    /// this or --server-pin, the public web roots.
    #[arg(long, value_name = "PEM")]
    server_ca: Option<PathBuf>,
    /// The operator's token file (the server's ready line's `admin_token_file`).
    #[arg(long)]
    admin_token_file: Option<PathBuf>,
}

impl ApiArgs {
    fn trust(&self) -> ServerTrust {
        match (&self.server_pin, &self.server_ca) {
            (Some(pin), _) => ServerTrust::Pin(pin.clone()),
            (None, Some(ca)) => ServerTrust::CaFile(ca.clone()),
            (None, None) => ServerTrust::PublicRoots,
        }
    }

    async fn admin(&self) -> anyhow::Result<ApiClient> {
        let path = self
            .admin_token_file
            .as_ref()
            .context("operator calls need --admin-token-file")?;
        let token = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
        Ok(ApiClient::connect(&self.api, &self.trust(), Some(token.trim())).await?)
    }
}

/// Register a host (again: its old secret stops working) and print its
/// subscription secret, for the agent that will serve it.
#[derive(Args, Debug)]
#[command(after_help = "\
Example:
  corridor proxy register app.example.com --server-pin sha256/... \\
      --admin-token-file ~/.local/state/corridor/proxy/admin.token --out app.secret")]
struct RegisterArgs {
    /// The host name visitors use.
    host: String,
    #[command(flatten)]
    api: ApiArgs,
    /// Write the secret to this file (0600) instead of printing it.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Unregister a host: its agents' subscriptions end.
#[derive(Args, Debug)]
struct HostArgs {
    /// The host name.
    host: String,
    #[command(flatten)]
    api: ApiArgs,
}

/// Serve hosts of this machine through a proxy server: subscribe, and dial
/// back for each visitor to the local address of its route. Only the routes
/// given here are ever dialled. Reconnects (with backoff) when the server
/// goes away. SIGINT/SIGTERM: no new visitors, open ones finish.
#[derive(Args, Debug)]
#[command(after_help = "\
Example:
  corridor proxy agent --api wss://proxy.example.net:7443/api --server-pin sha256/... \\
      --subscribe app.example.com=app.secret \\
      --route app.example.com=127.0.0.1:3000 --route app.example.com:443=127.0.0.1:3443")]
struct AgentArgs {
    #[command(flatten)]
    api: ApiArgs,
    /// HOST=FILE: serve HOST with the secret in FILE (repeatable).
    #[arg(long = "subscribe", value_name = "HOST=FILE", required = true)]
    subscribe: Vec<String>,
    /// HOST[:PORT]=ADDR: where HOST's visitors (on public PORT, or any) go (repeatable).
    #[arg(long = "route", value_name = "HOST[:PORT]=ADDR", required = true)]
    routes: Vec<String>,
    /// Data connections kept open in advance.
    #[arg(long, default_value_t = 1)]
    warm: usize,
    /// Seconds open connections get after SIGTERM.
    #[arg(long, default_value_t = 10)]
    drain: u64,
}

pub(crate) fn run(args: ProxyArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    runtime.block_on(async move {
        match args.command {
            ProxyCommand::Serve(args) => serve(args).await,
            ProxyCommand::Register(args) => register(args).await,
            ProxyCommand::Unregister(args) => {
                let mut admin = args.api.admin().await?;
                let answer = admin
                    .call("proxy.unregister", json!({"host": args.host}))
                    .await?;
                println!("{answer}");
                Ok(ExitCode::SUCCESS)
            }
            ProxyCommand::List(args) => {
                let mut admin = args.admin().await?;
                println!("{}", admin.call("proxy.list", json!({})).await?);
                Ok(ExitCode::SUCCESS)
            }
            ProxyCommand::Agent(args) => agent(args).await,
        }
    })
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let state_dir = args
        .state_dir
        .unwrap_or_else(|| crate::dev_state::default_dir().join("proxy"));
    let mut config = ProxyConfig::local(state_dir);
    config.http = args.http;
    config.https = args.https;
    config.api = args.api;
    config.data = args.data;
    config.data_advertise = args.data_advertise;
    config.admin_token_file = args.admin_token_file;
    config.tls = args.cert.zip(args.key).map(|(cert, key)| ServerTlsFiles {
        cert,
        key,
        client_ca: None,
    });
    config.limits = Limits {
        max_visitors: args.max_visitors,
        max_sniffing: args.max_sniffing,
        preamble_bytes: args.preamble_bytes,
        sniff_timeout: Duration::from_millis(args.sniff_timeout_ms.max(1)),
        dialback_timeout: Duration::from_millis(args.dialback_timeout_ms.max(1)),
        max_pending_per_agent: args.max_pending_per_agent,
        drain: Duration::from_secs(args.drain),
        per_ip_rate: args.per_ip_rate,
        per_ip_burst: args.per_ip_burst,
        ..Limits::default()
    };
    let server = ProxyServer::bind(config).await?;
    println!("{}", serde_json::to_string(server.ready())?);
    let handle = server.handle();
    let switch = handle.clone();
    crate::signals::metrics_switch(move |enabled| switch.set_metrics_enabled(enabled))?;
    tokio::spawn(async move {
        crate::signals::terminated().await;
        tracing::info!("shutting down: no new visitors");
        handle.shutdown();
    });
    server.serve().await;
    Ok(ExitCode::SUCCESS)
}

async fn register(args: RegisterArgs) -> anyhow::Result<ExitCode> {
    let mut admin = args.api.admin().await?;
    let answer = admin
        .call("proxy.register", json!({"host": args.host}))
        .await?;
    admin.close().await;
    match args.out {
        Some(path) => {
            let secret = answer["secret"]
                .as_str()
                .context("no secret in the answer")?;
            let _ = std::fs::remove_file(&path);
            corridor::keystore::write_secret_file(&path, format!("{secret}\n").as_bytes())
                .with_context(|| format!("{}", path.display()))?;
            println!("{}", json!({"host": answer["host"], "secret_file": path}));
        }
        None => println!("{answer}"),
    }
    Ok(ExitCode::SUCCESS)
}

async fn agent(args: AgentArgs) -> anyhow::Result<ExitCode> {
    let mut config = AgentConfig::new(args.api.api.clone(), args.api.trust());
    for pair in &args.subscribe {
        let (host, file) = pair
            .split_once('=')
            .with_context(|| format!("--subscribe is HOST=FILE: {pair:?}"))?;
        let secret = std::fs::read_to_string(file).with_context(|| file.to_owned())?;
        config
            .subscriptions
            .push((host.to_owned(), secret.trim().to_owned()));
    }
    let mut routes = Routes::default();
    for route in &args.routes {
        routes.add(route)?;
    }
    config.routes = routes;
    config.warm = args.warm;
    config.drain = Duration::from_secs(args.drain);
    let agent = Agent::spawn(config);
    let mut state = agent.state();
    let announce = async {
        if state.wait_for(|state| state.subscribed).await.is_ok() {
            println!(
                "{}",
                json!({"subscribed": args.subscribe.len(), "api": args.api.api.url})
            );
        }
    };
    tokio::select! {
        _ = announce => {}
        _ = crate::signals::terminated() => {
            agent.shutdown().await;
            return Ok(ExitCode::SUCCESS);
        }
    }
    crate::signals::terminated().await;
    tracing::info!("shutting down: no new visitors");
    agent.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
