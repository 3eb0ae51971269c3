//! The private side: an agent keeps an API session with the proxy server
//! (subscribing to its hosts again after every reconnect), and for each
//! `proxy.connect` notification dials back to the data port with the
//! visitor's secret, connects to its own route for that host and port,
//! and splices the two. A few data connections are kept open in advance
//! (TLS done) so a visitor does not wait for a dial-back handshake.

use crate::ProxyError;
use crate::client::{ApiClient, ApiUrl, ServerTrust, connect_tls};
use crate::routes::Routes;
use base64::Engine as _;
use corridor::reconnect::Backoff;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};
use tokio_rustls::client::TlsStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// An agent's configuration.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// The server's control API, `wss://host:port/api`.
    pub api: ApiUrl,
    /// How the server's certificate is trusted.
    pub trust: ServerTrust,
    /// Hosts to serve, each with its registration secret (base64).
    pub subscriptions: Vec<(String, String)>,
    /// Where each host's visitors go.
    pub routes: Routes,
    /// Data connections kept open in advance (0: dial back on demand).
    pub warm: usize,
    /// Waits between reconnects.
    pub backoff: Backoff,
    /// After shutdown, how long established splices may go on.
    pub drain: Duration,
    /// Time to reach a local route.
    pub connect_timeout: Duration,
    /// An API session with no frame from the server (it pings every 15 s by
    /// default) for this long is taken as dead, and replaced.
    pub api_silence: Duration,
}

impl AgentConfig {
    /// An agent for `api`, trusting the server by `trust`, with one warm
    /// connection (as frp's `poolCount`).
    pub fn new(api: ApiUrl, trust: ServerTrust) -> AgentConfig {
        AgentConfig {
            api,
            trust,
            subscriptions: Vec::new(),
            routes: Routes::default(),
            warm: 1,
            backoff: Backoff::default(),
            drain: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            api_silence: Duration::from_secs(45),
        }
    }
}

/// Where an agent stands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentState {
    /// Subscribed to every host on a live API session.
    pub subscribed: bool,
    /// API sessions opened so far.
    pub sessions: u64,
    /// Why the last session or attempt ended.
    pub last_error: Option<String>,
    /// Visitors spliced to a route so far.
    pub visitors: u64,
    /// Notifications refused (no route for the host and port, bad secret).
    pub refused: u64,
}

/// A running agent.
pub struct Agent {
    state: watch::Receiver<AgentState>,
    shutdown: CancellationToken,
    done: tokio::task::JoinHandle<()>,
}

/// Where a warm data connection may stay idle before it is replaced (the
/// server closes one that waited its data idle timeout, 60 s by default).
const WARM_MAX_AGE: Duration = Duration::from_secs(45);

impl Agent {
    /// Starts the agent in the background.
    pub fn spawn(config: AgentConfig) -> Agent {
        let (state, watcher) = watch::channel(AgentState::default());
        let shutdown = CancellationToken::new();
        let done = tokio::spawn(run(Arc::new(config), state, shutdown.clone()));
        Agent {
            state: watcher,
            shutdown,
            done,
        }
    }

    /// Its state, as it changes.
    pub fn state(&self) -> watch::Receiver<AgentState> {
        self.state.clone()
    }

    /// Waits until it is subscribed (or `timeout`).
    pub async fn subscribed(&self, timeout: Duration) -> Result<(), ProxyError> {
        let mut state = self.state.clone();
        tokio::time::timeout(timeout, state.wait_for(|state| state.subscribed))
            .await
            .map_err(|_| ProxyError::Timeout)?
            .map(|_| ())
            .map_err(|_| ProxyError::Timeout)
    }

    /// Stops taking visitors (the API session closes, so the server sends
    /// them to other agents) and lets established splices finish within
    /// the drain time.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        let _ = self.done.await;
    }
}

async fn run(
    config: Arc<AgentConfig>,
    state: watch::Sender<AgentState>,
    shutdown: CancellationToken,
) {
    let splices = TaskTracker::new();
    let hard_stop = CancellationToken::new();
    let mut failures = 0u32;
    while !shutdown.is_cancelled() {
        let started = Instant::now();
        let ended = session(&config, &state, &splices, &hard_stop, &shutdown).await;
        state.send_modify(|state| {
            state.subscribed = false;
            state.last_error = ended.as_ref().err().map(ToString::to_string);
        });
        if let Err(error) = &ended {
            tracing::warn!(%error, "API session ended");
        }
        if started.elapsed() >= config.backoff.reset_after {
            failures = 0;
        }
        let random =
            f64::from(rand_core::RngCore::next_u32(&mut rand_core::OsRng)) / f64::from(u32::MAX);
        let wait = config.backoff.delay(failures, random);
        failures = failures.saturating_add(1);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.cancelled() => {}
        }
    }
    splices.close();
    if tokio::time::timeout(config.drain, splices.wait())
        .await
        .is_err()
    {
        hard_stop.cancel();
        splices.wait().await;
    }
}

#[derive(Deserialize)]
struct Connect {
    secret: String,
    host: String,
    port: u16,
    data_addr: String,
    #[serde(default)]
    client_addr: String,
    #[serde(default)]
    server_addr: String,
}

async fn session(
    config: &Arc<AgentConfig>,
    state: &watch::Sender<AgentState>,
    splices: &TaskTracker,
    hard_stop: &CancellationToken,
    shutdown: &CancellationToken,
) -> Result<(), ProxyError> {
    let mut api = ApiClient::connect(&config.api, &config.trust, None).await?;
    state.send_modify(|state| state.sessions += 1);
    let mut data_addr = None;
    for (host, secret) in &config.subscriptions {
        let answer = api
            .call("proxy.subscribe", json!({"host": host, "secret": secret}))
            .await?;
        data_addr = answer
            .get("data_addr")
            .and_then(Value::as_str)
            .map(str::to_owned);
    }
    let tls = config.trust.client_config()?;
    let warm = Arc::new(Warm::default());
    let stop_warming = CancellationToken::new();
    let _stop_warming = stop_warming.clone().drop_guard();
    if let (Some(addr), true) = (&data_addr, config.warm > 0) {
        let target = DataTarget::new(addr, &config.api.host)?;
        tokio::spawn(keep_warm(
            warm.clone(),
            target,
            tls.clone(),
            config.warm,
            stop_warming,
        ));
    }
    state.send_modify(|state| state.subscribed = true);
    tracing::info!(hosts = config.subscriptions.len(), "agent subscribed");
    loop {
        let message = tokio::select! {
            message = api.next_json_within(Some(config.api_silence)) => message?,
            _ = shutdown.cancelled() => {
                api.close().await;
                return Ok(());
            }
        };
        if message.get("method").and_then(Value::as_str) != Some("proxy.connect") {
            continue;
        }
        let Some(connect) = message
            .get("params")
            .and_then(|params| serde_json::from_value::<Connect>(params.clone()).ok())
        else {
            state.send_modify(|state| state.refused += 1);
            continue;
        };
        let (config, tls, warm) = (config.clone(), tls.clone(), warm.clone());
        let (state, hard_stop) = (state.clone(), hard_stop.clone());
        splices.spawn(async move {
            match dial_back(&config, connect, tls, &warm, &hard_stop).await {
                Ok(()) => state.send_modify(|state| state.visitors += 1),
                Err(error) => {
                    tracing::warn!(%error, "visitor not served");
                    state.send_modify(|state| state.refused += 1);
                }
            }
        });
    }
}

/// The data port: the advertised address, with an unspecified IP replaced
/// by the host the API was reached at.
#[derive(Clone, Debug)]
struct DataTarget {
    host: String,
    port: u16,
}

impl DataTarget {
    fn new(data_addr: &str, api_host: &str) -> Result<DataTarget, ProxyError> {
        let bad = || ProxyError::Config(format!("bad data address {data_addr:?}"));
        let (host, port) = data_addr.rsplit_once(':').ok_or_else(bad)?;
        let port = port.parse().map_err(|_| bad())?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let unspecified = host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified());
        let host = if unspecified { api_host } else { host };
        Ok(DataTarget {
            host: host.to_owned(),
            port,
        })
    }
}

/// Open data connections waiting for a visitor.
#[derive(Default)]
struct Warm {
    idle: Mutex<VecDeque<(Instant, TlsStream<TcpStream>)>>,
    taken: Notify,
}

impl Warm {
    fn take(&self) -> Option<TlsStream<TcpStream>> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        while let Some((opened, stream)) = idle.pop_front() {
            if opened.elapsed() < WARM_MAX_AGE {
                self.taken.notify_one();
                return Some(stream);
            }
        }
        self.taken.notify_one();
        None
    }

    fn len(&self) -> usize {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.retain(|(opened, _)| opened.elapsed() < WARM_MAX_AGE);
        idle.len()
    }
}

async fn keep_warm(
    warm: Arc<Warm>,
    target: DataTarget,
    tls: Arc<rustls::ClientConfig>,
    size: usize,
    stop: CancellationToken,
) {
    while !stop.is_cancelled() {
        while warm.len() < size {
            let opened = tokio::select! {
                opened = connect_tls(&target.host, target.port, tls.clone(), Duration::from_secs(5)) => opened,
                _ = stop.cancelled() => return,
            };
            match opened {
                Ok(stream) => warm
                    .idle
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push_back((Instant::now(), stream)),
                Err(error) => {
                    tracing::debug!(%error, "warm data connection failed");
                    break;
                }
            }
        }
        tokio::select! {
            _ = warm.taken.notified() => {}
            _ = tokio::time::sleep(WARM_MAX_AGE / 3) => {}
            _ = stop.cancelled() => return,
        }
    }
}

async fn dial_back(
    config: &AgentConfig,
    connect: Connect,
    tls: Arc<rustls::ClientConfig>,
    warm: &Warm,
    hard_stop: &CancellationToken,
) -> Result<(), ProxyError> {
    let secret = base64::engine::general_purpose::STANDARD
        .decode(&connect.secret)
        .ok()
        .filter(|secret| secret.len() == crate::dialback::DIAL_SECRET_BYTES)
        .ok_or_else(|| ProxyError::Config("a notification's secret is not 32 bytes".into()))?;
    // Only the agent's own routes: the server names a host, never an address.
    let route = config
        .routes
        .target(&connect.host, connect.port)
        .ok_or_else(|| {
            ProxyError::Config(format!("no route for {}:{}", connect.host, connect.port))
        })?
        .clone();
    let target = route.addr;
    let mut data = match warm.take() {
        Some(data) => data,
        None => {
            let at = DataTarget::new(&connect.data_addr, &config.api.host)?;
            connect_tls(&at.host, at.port, tls, config.connect_timeout).await?
        }
    };
    let closed = |error: std::io::Error| ProxyError::Connect {
        addr: connect.data_addr.clone(),
        detail: error.to_string(),
    };
    data.write_all(&secret).await.map_err(closed)?;
    let mut local = tokio::time::timeout(config.connect_timeout, TcpStream::connect(&target))
        .await
        .map_err(|_| ProxyError::Timeout)?
        .map_err(|error| ProxyError::Connect {
            addr: target.clone(),
            detail: error.to_string(),
        })?;
    let _ = local.set_nodelay(true);
    if let Some(version) = route.proxy_protocol {
        let header = version.header(
            connect.client_addr.parse().ok(),
            connect.server_addr.parse().ok(),
        );
        local
            .write_all(&header)
            .await
            .map_err(|error| ProxyError::Connect {
                addr: target.clone(),
                detail: error.to_string(),
            })?;
    }
    tracing::debug!(host = %connect.host, client = %connect.client_addr, %target, "visitor spliced");
    tokio::select! {
        _ = corridor::builtin::splice(&mut data, &mut local) => {}
        _ = hard_stop.cancelled() => {}
    }
    Ok(())
}
