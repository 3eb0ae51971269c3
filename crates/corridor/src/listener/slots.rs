//! What a listener counts: every open connection against the connection
//! cap, and the connections still in their handshake against the handshake
//! cap. A full connection cap refuses the newcomer; a full handshake cap
//! closes the handshake that has waited longest to make room, so slow
//! connections cannot keep the places that quick ones need. A handshake
//! whose peer has sent all it had to send (its whole HTTP request, reported
//! through the connection's [`HandshakeProgress`]) is closed only when no
//! other is left: a slow client dripping a request goes before a quick one
//! being answered.

use crate::carrier::HandshakeProgress;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// A listener's counters, for metrics. All counts since it was bound.
#[derive(Debug, Default)]
pub struct ListenerStats {
    /// Connections admitted.
    pub accepted: AtomicU64,
    /// Connections refused because the connection cap was reached.
    pub refused_at_cap: AtomicU64,
    /// Handshakes closed to make room for a newer one.
    pub evicted: AtomicU64,
    /// Handshakes that did not finish within the deadline.
    pub handshake_timeouts: AtomicU64,
    /// TLS handshakes that failed.
    pub tls_failures: AtomicU64,
    /// Errors from the operating system's accept (out of descriptors, ...).
    pub accept_errors: AtomicU64,
    /// Connections open now.
    pub open: AtomicUsize,
    /// Connections in their handshake now.
    pub handshaking: AtomicUsize,
}

impl ListenerStats {
    pub(crate) fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// One open connection, counted against the cap until dropped.
#[derive(Debug)]
pub struct ConnectionSlot {
    stats: Arc<ListenerStats>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.stats.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Takes a connection slot, or `None` at `max`.
pub(crate) fn open_slot(stats: &Arc<ListenerStats>, max: usize) -> Option<ConnectionSlot> {
    stats
        .open
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .ok()
        .map(|_| ConnectionSlot {
            stats: stats.clone(),
        })
}

/// The handshakes in progress.
#[derive(Debug)]
pub(crate) struct Handshakes {
    waiting: Mutex<Waiting>,
    next: AtomicU64,
    max: usize,
    stats: Arc<ListenerStats>,
}

/// Handshakes by id (ids grow, so each map is oldest first).
#[derive(Debug, Default)]
struct Waiting {
    /// Still waiting for the peer: closed first.
    incomplete: BTreeMap<u64, CancellationToken>,
    /// The peer has sent all it must; closed only when no other is left.
    complete: BTreeMap<u64, CancellationToken>,
}

impl Waiting {
    fn len(&self) -> usize {
        self.incomplete.len() + self.complete.len()
    }

    fn pop_next_to_close(&mut self) -> Option<CancellationToken> {
        let (_, token) = match self.incomplete.pop_first() {
            Some(oldest) => oldest,
            None => self.complete.pop_first()?,
        };
        Some(token)
    }

    fn remove(&mut self, id: u64) -> bool {
        self.incomplete.remove(&id).is_some() || self.complete.remove(&id).is_some()
    }
}

impl Handshakes {
    pub(crate) fn new(max: usize, stats: Arc<ListenerStats>) -> Arc<Handshakes> {
        Arc::new(Handshakes {
            waiting: Mutex::new(Waiting::default()),
            next: AtomicU64::new(0),
            max: max.max(1),
            stats,
        })
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, Waiting> {
        // Every critical section is a few map updates.
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new handshake, closing the oldest incomplete one (or,
    /// with none, the oldest) if all places are taken.
    pub(crate) fn begin(self: &Arc<Self>) -> HandshakeSlot {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let evicted = CancellationToken::new();
        let mut waiting = self.waiting();
        while waiting.len() >= self.max {
            let Some(closed) = waiting.pop_next_to_close() else {
                break;
            };
            closed.cancel();
            ListenerStats::count(&self.stats.evicted);
            self.stats.handshaking.fetch_sub(1, Ordering::AcqRel);
        }
        waiting.incomplete.insert(id, evicted.clone());
        self.stats.handshaking.fetch_add(1, Ordering::AcqRel);
        HandshakeSlot {
            handshakes: self.clone(),
            id,
            evicted,
        }
    }

    fn complete(&self, id: u64) {
        let mut waiting = self.waiting();
        if let Some(token) = waiting.incomplete.remove(&id) {
            waiting.complete.insert(id, token);
        }
    }

    fn end(&self, id: u64) {
        if self.waiting().remove(id) {
            self.stats.handshaking.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// A handshake's place: given back when dropped; cancelled when a newer
/// handshake needs it.
#[derive(Debug)]
pub(crate) struct HandshakeSlot {
    handshakes: Arc<Handshakes>,
    id: u64,
    evicted: CancellationToken,
}

impl HandshakeSlot {
    /// Resolves when this handshake is closed to make room.
    pub(crate) async fn evicted(&self) {
        self.evicted.cancelled().await
    }

    /// Progress that marks this handshake complete, while the listener lives.
    pub(crate) fn progress(&self) -> HandshakeProgress {
        let (handshakes, id) = (Arc::downgrade(&self.handshakes), self.id);
        HandshakeProgress::new(move || {
            if let Some(handshakes) = handshakes.upgrade() {
                handshakes.complete(id);
            }
        })
    }
}

impl Drop for HandshakeSlot {
    fn drop(&mut self) {
        self.handshakes.end(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_handshake_makes_room_for_a_new_one() {
        let stats = Arc::new(ListenerStats::default());
        let handshakes = Handshakes::new(2, stats.clone());
        let first = handshakes.begin();
        let second = handshakes.begin();
        assert!(!first.evicted.is_cancelled());
        let third = handshakes.begin();
        assert!(first.evicted.is_cancelled(), "the oldest went");
        assert!(!second.evicted.is_cancelled() && !third.evicted.is_cancelled());
        assert_eq!(stats.handshaking.load(Ordering::Relaxed), 2);
        drop(first);
        assert_eq!(stats.handshaking.load(Ordering::Relaxed), 2, "counted once");
        drop((second, third));
        assert_eq!(stats.handshaking.load(Ordering::Relaxed), 0);
        assert_eq!(stats.evicted.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_handshake_whose_peer_has_sent_its_request_goes_last() {
        let stats = Arc::new(ListenerStats::default());
        let handshakes = Handshakes::new(2, stats.clone());
        let quick = handshakes.begin();
        let slow = handshakes.begin();
        quick.progress().complete();
        let newer = handshakes.begin();
        assert!(
            slow.evicted.is_cancelled() && !quick.evicted.is_cancelled(),
            "the incomplete one went, though the complete one is older"
        );
        newer.progress().complete();
        let newest = handshakes.begin();
        assert!(
            quick.evicted.is_cancelled() && !newer.evicted.is_cancelled(),
            "with every one complete, the oldest goes"
        );
        assert_eq!(stats.handshaking.load(Ordering::Relaxed), 2);
        drop((slow, quick, newer, newest));
        assert_eq!(stats.handshaking.load(Ordering::Relaxed), 0);
        assert_eq!(stats.evicted.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn the_connection_cap_refuses_and_frees() {
        let stats = Arc::new(ListenerStats::default());
        let a = open_slot(&stats, 1).expect("first");
        assert!(open_slot(&stats, 1).is_none());
        drop(a);
        assert!(open_slot(&stats, 1).is_some());
    }
}
