//! What a proxy server listens on and the limits it keeps.

use corridor::tls::ServerTlsFiles;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A proxy server's configuration.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// Plain HTTP ports (production: `:80`), routed by `Host`.
    pub http: Vec<SocketAddr>,
    /// TLS ports (production: `:443`), routed by SNI; TLS is not terminated.
    pub https: Vec<SocketAddr>,
    /// The control API (JSON-RPC over WebSocket over TLS), `/healthz` and
    /// `/metrics`.
    pub api: SocketAddr,
    /// Where agents dial back (TLS).
    pub data: SocketAddr,
    /// The data address told to agents (`host:port`), when it is not the
    /// bound one (behind NAT, or bound to 0.0.0.0). Agents replace an
    /// unspecified IP with the host they reached the API at.
    pub data_advertise: Option<String>,
    /// Registrations, the admin token and the self-signed certificate.
    pub state_dir: PathBuf,
    /// A certificate for the API and data ports; without one a self-signed
    /// certificate is made in `state_dir/tls` and its pin printed.
    pub tls: Option<ServerTlsFiles>,
    /// The operator's token file (default `state_dir/admin.token`, made on
    /// first start).
    pub admin_token_file: Option<PathBuf>,
    /// Bounds.
    pub limits: Limits,
}

impl ProxyConfig {
    /// Loopback ports a newcomer can bind without root, state in `state_dir`.
    pub fn local(state_dir: impl Into<PathBuf>) -> ProxyConfig {
        let loopback = |port| SocketAddr::from(([127, 0, 0, 1], port));
        ProxyConfig {
            http: vec![loopback(8080)],
            https: vec![loopback(8443)],
            api: loopback(7443),
            data: loopback(7444),
            data_advertise: None,
            state_dir: state_dir.into(),
            tls: None,
            admin_token_file: None,
            limits: Limits::default(),
        }
    }
}

/// Every bound of a proxy server, each with a safe default.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Visitor connections open at once, sniffing or spliced.
    pub max_visitors: usize,
    /// Visitors being sniffed at once; past it the longest waiting is closed.
    pub max_sniffing: usize,
    /// The most preamble bytes held to find the host.
    pub preamble_bytes: usize,
    /// Time for a visitor's preamble to name its host.
    pub sniff_timeout: Duration,
    /// Time for the agent's data connection to arrive after the notification.
    pub dialback_timeout: Duration,
    /// Dial-backs waiting per agent; past it visitors for that agent are refused.
    pub max_pending_per_agent: usize,
    /// How long a data connection may wait (warm) before presenting its secret.
    pub data_idle_timeout: Duration,
    /// Agents' data connections open at once, warm or spliced.
    pub max_data_connections: usize,
    /// API connections open at once.
    pub max_api_connections: usize,
    /// The largest API message.
    pub max_api_message_bytes: usize,
    /// A silent API connection is pinged this often, and closed after
    /// three intervals without a frame.
    pub api_ping_interval: Duration,
    /// After SIGTERM, how long established splices may go on.
    pub drain: Duration,
    /// New visitor connections per second from one IP address (0: no
    /// limit); past it they are closed at once.
    pub per_ip_rate: u32,
    /// The burst above `per_ip_rate` one address may open at once.
    pub per_ip_burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_visitors: 10_000,
            max_sniffing: 1024,
            preamble_bytes: 16 * 1024,
            sniff_timeout: Duration::from_secs(5),
            dialback_timeout: Duration::from_secs(5),
            max_pending_per_agent: 256,
            data_idle_timeout: Duration::from_secs(60),
            max_data_connections: 10_000,
            max_api_connections: 1024,
            max_api_message_bytes: 64 * 1024,
            api_ping_interval: Duration::from_secs(15),
            drain: Duration::from_secs(10),
            per_ip_rate: 100,
            per_ip_burst: 200,
        }
    }
}
