//! The state every task of one relay shares: configuration, token checks,
//! the single-use cache, the channel table, connection counts, metrics, and
//! the shutdown signal. It sits below every connection-handling module; they
//! take it, it takes none of them but the table.

use crate::config::RelayConfig;
use crate::metrics::Metrics;
use crate::pairing::Registry;
use crate::refusals::RefusalLog;
use crate::replay::ReplayStore;
use crate::slots::Connections;
use crate::verifier::Verifier;
use corridor::carrier::read_ahead::ReadAheadBudget;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// State shared by every task of one relay.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: RelayConfig,
    pub(crate) verifier: Verifier,
    pub(crate) replay: Box<dyn ReplayStore>,
    pub(crate) refusals: RefusalLog,
    pub(crate) registry: Registry,
    pub(crate) connections: Arc<Connections>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) read_ahead: ReadAheadBudget,
    pub(crate) shutdown: CancellationToken,
    pub(crate) tasks: TaskTracker,
    /// The main listener's counters (connections in their handshake, evictions).
    pub(crate) listener_stats: Arc<corridor::listener::ListenerStats>,
}

impl Shared {
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }
}
