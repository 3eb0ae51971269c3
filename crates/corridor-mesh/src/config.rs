//! A transport's configuration, with the seed's defaults.

use corridor::tls::ServerTlsFiles;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How a node listens and the bounds it keeps with every peer.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    /// Where it listens (`:9091`).
    pub listen: SocketAddr,
    /// The WebSocket path (`/ws`).
    pub ws_path: String,
    /// TLS for `wss://` (1.2 and 1.3, X25519 and P-256, AEAD suites only).
    pub tls: Option<ServerTlsFiles>,
    /// How this node trusts the certificates of the `wss://` peers it dials
    /// (`corridor::tls::client_config` for a pinned key); `None`: the
    /// public web roots. The Noise handshake inside authenticates the node
    /// itself either way.
    pub tls_client: Option<Arc<rustls::ClientConfig>>,
    /// Connections at once, established and mid-handshake, in and out;
    /// past it an upgrade gets 503 before any handshake.
    pub max_conns: usize,
    /// The largest message, encoded.
    pub max_message_size: usize,
    /// How often a quiet connection is pinged.
    pub ping_interval: Duration,
    /// How long after a ping a silent peer is dropped.
    pub pong_timeout: Duration,
    /// Time from connect to an authenticated session.
    pub handshake_timeout: Duration,
    /// How long a send may wait for room toward a slow peer.
    pub write_timeout: Duration,
    /// Messages a peer may send in a burst...
    pub rate_burst: u32,
    /// ...and per second after it; beyond, they are dropped and counted.
    pub rate_per_second: u32,
    /// How long a message id is remembered to drop its repeats.
    pub dedup_ttl: Duration,
    /// How many message ids are remembered at most.
    pub dedup_capacity: usize,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 9091)),
            ws_path: "/ws".into(),
            tls: None,
            tls_client: None,
            max_conns: 100,
            max_message_size: 1024 * 1024,
            ping_interval: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            rate_burst: 100,
            rate_per_second: 50,
            dedup_ttl: Duration::from_secs(300),
            dedup_capacity: 100_000,
        }
    }
}
