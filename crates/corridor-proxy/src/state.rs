//! The state every connection of one proxy server shares.

use crate::agents::Agents;
use crate::config::ProxyConfig;
use crate::dialback::DialBacks;
use crate::metrics::Metrics;
use crate::store::Store;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// State shared by every connection of one server.
pub(crate) struct Shared {
    pub(crate) config: ProxyConfig,
    pub(crate) store: Store,
    pub(crate) agents: Agents,
    pub(crate) dialbacks: Arc<DialBacks>,
    pub(crate) metrics: Metrics,
    /// Whether `/metrics` answers (SIGUSR1 / SIGUSR2 in the CLI).
    pub(crate) metrics_enabled: AtomicBool,
    pub(crate) admin_token: [u8; 32],
    pub(crate) data_addr: String,
    pub(crate) tasks: TaskTracker,
    /// Cancelled at shutdown: listeners stop, API connections close.
    pub(crate) shutdown: CancellationToken,
    /// Cancelled when the drain is over: splices still open end.
    pub(crate) hard_stop: CancellationToken,
}
