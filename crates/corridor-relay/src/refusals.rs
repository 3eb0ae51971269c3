//! The operator's view of refusals: every refused connection or attach is
//! logged with its reason and the peer's address, at most a few lines a
//! second, so a flood cannot fill a disk. Lines that were held back are
//! counted and named in the next line that is written.

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

/// Refusal lines written per second, after a burst.
const LINES_PER_SECOND: NonZeroU32 = NonZeroU32::new(20).expect("non-zero");
/// Refusal lines written at once before the per-second rate applies.
const LINES_BURST: NonZeroU32 = NonZeroU32::new(100).expect("non-zero");

/// How an operator should read a refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Severity {
    /// The relay is at one of its caps: a capacity question (logged as a warning).
    Capacity,
    /// The peer was refused for what it sent (logged as information).
    Peer,
}

/// The rate-limited refusal log.
#[derive(Debug)]
pub(crate) struct RefusalLog {
    limiter: DefaultDirectRateLimiter,
    held_back: AtomicU64,
}

impl Default for RefusalLog {
    fn default() -> Self {
        Self {
            limiter: RateLimiter::direct(
                Quota::per_second(LINES_PER_SECOND).allow_burst(LINES_BURST),
            ),
            held_back: AtomicU64::new(0),
        }
    }
}

impl RefusalLog {
    /// Logs one refusal of `peer` for `reason`, unless over the line rate.
    pub(crate) fn refused(&self, peer: SocketAddr, reason: &'static str, severity: Severity) {
        if self.limiter.check().is_err() {
            self.held_back.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let not_logged = self.held_back.swap(0, Ordering::Relaxed);
        match severity {
            Severity::Capacity => {
                tracing::warn!(%peer, reason, not_logged, "refused: at a limit");
            }
            Severity::Peer => tracing::info!(%peer, reason, not_logged, "refused"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_held_back_and_counted() {
        let log = RefusalLog::default();
        let peer: SocketAddr = "192.0.2.1:4000".parse().expect("addr");
        let flood = 10 * LINES_BURST.get() as u64;
        for _ in 0..flood {
            log.refused(peer, "origin_not_allowed", Severity::Peer);
        }
        // No test runs a full second, so at most the burst and a few refills
        // were written; the rest is counted for the next line.
        let held = log.held_back.load(Ordering::Relaxed);
        assert!(
            held >= flood - u64::from(LINES_BURST.get()) - 20,
            "held back {held}"
        );
    }
}
