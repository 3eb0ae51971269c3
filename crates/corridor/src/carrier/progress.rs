//! How the accepting side of a connection reports that the peer's request
//! has arrived, to whoever accepted the connection. A
//! `corridor::listener::Listener` uses it to close slow handshakes before
//! quick ones when its handshake cap is full. The report is a callback the
//! acceptor gives, so this layer knows nothing of listeners.

use std::sync::Arc;

/// Reports a handshake's progress to whoever accepted its connection. The
/// default reports to no one (a dialled connection).
///
/// ```
/// use corridor::carrier::HandshakeProgress;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// let arrived = Arc::new(AtomicBool::new(false));
/// let seen = arrived.clone();
/// let progress = HandshakeProgress::new(move || seen.store(true, Ordering::Relaxed));
/// progress.complete();
/// assert!(arrived.load(Ordering::Relaxed));
/// HandshakeProgress::default().complete(); // reports to no one
/// ```
#[derive(Clone, Default)]
pub struct HandshakeProgress(Option<Arc<dyn Fn() + Send + Sync>>);

impl HandshakeProgress {
    /// Progress that `report` hears of.
    pub fn new(report: impl Fn() + Send + Sync + 'static) -> HandshakeProgress {
        HandshakeProgress(Some(Arc::new(report)))
    }

    /// The peer has sent everything this phase needs from it.
    pub fn complete(&self) {
        if let Some(report) = &self.0 {
            report();
        }
    }
}

impl std::fmt::Debug for HandshakeProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("HandshakeProgress")
            .field(&if self.0.is_some() {
                "reported"
            } else {
                "unreported"
            })
            .finish()
    }
}
