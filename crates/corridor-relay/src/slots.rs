//! Counting endpoint connections against `--max-conns`: a slot per
//! upgraded connection, given back when the connection goes.

use crate::metrics::Metrics;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The open endpoint connections and their cap.
#[derive(Debug)]
pub(crate) struct Connections {
    open: AtomicUsize,
    max: usize,
    metrics: Arc<Metrics>,
}

impl Connections {
    pub(crate) fn new(max: usize, metrics: Arc<Metrics>) -> Arc<Connections> {
        Arc::new(Connections {
            open: AtomicUsize::new(0),
            max,
            metrics,
        })
    }

    /// Takes a connection slot, or `None` at the cap.
    pub(crate) fn try_open(self: &Arc<Self>) -> Option<ConnectionSlot> {
        let taken = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .is_ok();
        taken.then(|| {
            self.metrics.connection_opened();
            ConnectionSlot {
                connections: self.clone(),
            }
        })
    }
}

/// One counted endpoint connection; released on drop.
#[derive(Debug)]
pub(crate) struct ConnectionSlot {
    connections: Arc<Connections>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.connections.open.fetch_sub(1, Ordering::AcqRel);
        self.connections.metrics.connection_closed();
    }
}
