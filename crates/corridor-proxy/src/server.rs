//! The proxy server: binds the public, data and API listeners, and runs
//! them until shut down (then: no new visitors, established splices get
//! `drain` to finish).

use crate::ProxyError;
use crate::agents::Agents;
use crate::config::ProxyConfig;
use crate::metrics::Metrics;
use crate::sniff::Protocol;
use crate::state::Shared;
use crate::store::Store;
use corridor::listener::{BindAddr, Listener, ListenerConfig};
use corridor::peer::Address;
use serde::Serialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// What a bound server listens on, printed as its ready line.
#[derive(Clone, Debug, Serialize)]
pub struct Ready {
    /// Plain HTTP ports.
    pub http: Vec<SocketAddr>,
    /// TLS (SNI) ports.
    pub https: Vec<SocketAddr>,
    /// The control API: `wss://<api>/api`.
    pub api: SocketAddr,
    /// Where agents dial back.
    pub data: SocketAddr,
    /// The pin agents use (`--server-pin`), when the certificate is self-signed.
    pub pin: Option<String>,
    /// The operator's token.
    pub admin_token_file: PathBuf,
}

/// A bound proxy server.
pub struct ProxyServer {
    shared: Arc<Shared>,
    public: Vec<(Listener, Protocol)>,
    data: Listener,
    api: Listener,
    ready: Ready,
}

/// Stops a running server and reads its counters.
#[derive(Clone)]
pub struct ProxyServerHandle {
    shared: Arc<Shared>,
}

impl ProxyServerHandle {
    /// Stops taking visitors and API calls; splices get the drain time.
    pub fn shutdown(&self) {
        self.shared.shutdown.cancel();
    }

    /// Visitors on `listener` (`http`, `tls`) that ended with `outcome`
    /// (`spliced`, `unknown_host`, `no_agent`, `dialback_timeout`, ...).
    pub fn visitors(&self, listener: &'static str, outcome: &'static str) -> u64 {
        self.shared.metrics.visitors(listener, outcome)
    }

    /// Data connections closed for `reason` (`unknown_secret`, ...).
    pub fn data_refusals(&self, reason: &'static str) -> u64 {
        self.shared.metrics.data_refusals(reason)
    }

    /// Turns `/metrics` on or off (404 while off); on from the start.
    pub fn set_metrics_enabled(&self, enabled: bool) {
        self.shared
            .metrics_enabled
            .store(enabled, Ordering::Relaxed);
    }

    /// Dial-backs waiting now.
    pub fn pending_dialbacks(&self) -> usize {
        self.shared.dialbacks.pending()
    }

    /// The Prometheus text of its metrics (also at `/metrics` on the API port).
    pub fn metrics_text(&self) -> String {
        self.shared.metrics.encode()
    }
}

fn tcp(listener: &Listener) -> SocketAddr {
    match listener.local_addr() {
        Address::Tcp(addr) => *addr,
        _ => SocketAddr::from(([0, 0, 0, 0], 0)),
    }
}

async fn bind(addr: SocketAddr, config: ListenerConfig) -> Result<Listener, ProxyError> {
    Listener::bind(&BindAddr::Tcp(addr), config)
        .await
        .map_err(|source| ProxyError::Bind {
            addr: addr.to_string(),
            source,
        })
}

impl ProxyServer {
    /// Opens the state (store, admin token, certificate) and binds every
    /// listener.
    pub async fn bind(config: ProxyConfig) -> Result<ProxyServer, ProxyError> {
        let state = &config.state_dir;
        let file_error = |path: &std::path::Path| {
            let path = path.to_owned();
            move |source| ProxyError::File { path, source }
        };
        std::fs::create_dir_all(state).map_err(file_error(state))?;
        let store = Store::open(&state.join("proxy.redb"))?;
        let token_file = config
            .admin_token_file
            .clone()
            .unwrap_or_else(|| state.join("admin.token"));
        let token = corridor::keystore::load_or_create_token(&token_file).map_err(|source| {
            ProxyError::File {
                path: token_file.clone(),
                source,
            }
        })?;
        let admin_token = crate::client::admin_token_digest(&token);
        let (tls_files, pin) = match &config.tls {
            Some(files) => (files.clone(), None),
            None => {
                let names = vec!["localhost".to_owned(), "corridor-proxy".to_owned()];
                let made = corridor::tls::load_or_create_self_signed(&state.join("tls"), &names)?;
                (made.files, Some(made.pin))
            }
        };
        let tls = corridor::tls::load_server_config(&tls_files)?;
        let limits = &config.limits;
        let public_config = ListenerConfig {
            max_connections: limits.max_visitors,
            max_handshaking: limits.max_sniffing,
            handshake_timeout: limits.sniff_timeout,
            tls: None,
        };
        let mut public = Vec::new();
        for (addrs, protocol) in [
            (&config.http, Protocol::Http),
            (&config.https, Protocol::Tls),
        ] {
            for addr in addrs {
                public.push((bind(*addr, public_config.clone()).await?, protocol));
            }
        }
        let data = bind(
            config.data,
            ListenerConfig {
                max_connections: limits.max_data_connections,
                max_handshaking: limits.max_data_connections,
                handshake_timeout: limits.data_idle_timeout,
                tls: Some(tls.clone()),
            },
        )
        .await?;
        let api = bind(
            config.api,
            ListenerConfig {
                max_connections: limits.max_api_connections,
                tls: Some(tls),
                ..ListenerConfig::default()
            },
        )
        .await?;
        let data_addr = config
            .data_advertise
            .clone()
            .unwrap_or_else(|| tcp(&data).to_string());
        let ready = Ready {
            http: public
                .iter()
                .filter(|(_, p)| *p == Protocol::Http)
                .map(|(l, _)| tcp(l))
                .collect(),
            https: public
                .iter()
                .filter(|(_, p)| *p == Protocol::Tls)
                .map(|(l, _)| tcp(l))
                .collect(),
            api: tcp(&api),
            data: tcp(&data),
            pin,
            admin_token_file: token_file,
        };
        let shared = Arc::new(Shared {
            config,
            store,
            agents: Agents::default(),
            dialbacks: Arc::default(),
            metrics: Metrics::new(),
            metrics_enabled: AtomicBool::new(true),
            admin_token,
            data_addr,
            tasks: TaskTracker::new(),
            shutdown: CancellationToken::new(),
            hard_stop: CancellationToken::new(),
        });
        Ok(ProxyServer {
            shared,
            public,
            data,
            api,
            ready,
        })
    }

    /// Where it listens, and the pin.
    pub fn ready(&self) -> &Ready {
        &self.ready
    }

    /// A handle that stops [`ProxyServer::serve`].
    pub fn handle(&self) -> ProxyServerHandle {
        ProxyServerHandle {
            shared: self.shared.clone(),
        }
    }

    /// Serves until [`ProxyServerHandle::shutdown`], then drains.
    pub async fn serve(self) {
        let ProxyServer {
            shared,
            public,
            data,
            api,
            ready: _,
        } = self;
        let mut loops = tokio::task::JoinSet::new();
        for (listener, protocol) in public {
            loops.spawn(crate::public::serve(shared.clone(), listener, protocol));
        }
        loops.spawn(crate::data::serve(shared.clone(), data));
        loops.spawn(crate::api::serve(shared.clone(), api));
        // Each loop returns at shutdown, dropping its listener.
        while loops.join_next().await.is_some() {}
        shared.tasks.close();
        if tokio::time::timeout(shared.config.limits.drain, shared.tasks.wait())
            .await
            .is_err()
        {
            shared.hard_stop.cancel();
            shared.tasks.wait().await;
        }
    }
}
