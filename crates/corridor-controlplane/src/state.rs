//! What every request and control session of one control plane shares.

use crate::ControlPlaneConfig;
use crate::auth::Gate;
use crate::metrics::Metrics;
use crate::registry::Registry;
use corridor::{EndpointCredential, SessionOptions};
use std::sync::atomic::AtomicU64;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Debug)]
pub(crate) struct State {
    pub(crate) config: ControlPlaneConfig,
    pub(crate) gate: Gate,
    pub(crate) registry: Registry,
    pub(crate) metrics: Metrics,
    /// Tells control sessions apart in the registry.
    pub(crate) next_session: AtomicU64,
    pub(crate) control_options: SessionOptions,
    pub(crate) control_credential: EndpointCredential,
    pub(crate) shutdown: CancellationToken,
    pub(crate) tasks: TaskTracker,
}
