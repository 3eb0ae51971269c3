//! Message ids seen recently: a repeat within the TTL is dropped (a replay,
//! or the same broadcast arriving by two paths). Bounded: past capacity
//! the oldest ids go first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Recently seen message ids.
pub struct Deduplicator {
    ttl: Duration,
    capacity: usize,
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    // One allocation per id, shared by the map and the expiry order.
    ids: HashMap<Arc<str>, Instant>,
    order: VecDeque<(Instant, Arc<str>)>,
}

impl Deduplicator {
    /// Ids are remembered for `ttl`, at most `capacity` of them.
    pub fn new(ttl: Duration, capacity: usize) -> Deduplicator {
        Deduplicator {
            ttl,
            capacity: capacity.max(1),
            seen: Mutex::default(),
        }
    }

    /// `true` the first time `id` is seen within the TTL.
    ///
    /// ```
    /// use std::time::Duration;
    /// let dedup = corridor_mesh::dedup::Deduplicator::new(Duration::from_secs(300), 1000);
    /// assert!(dedup.first_time("m1"));
    /// assert!(!dedup.first_time("m1"));
    /// ```
    pub fn first_time(&self, id: &str) -> bool {
        let now = Instant::now();
        // One insert and some removals per update: a poisoned map is whole.
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        while let Some((at, _)) = seen.order.front() {
            let expired = now.duration_since(*at) >= self.ttl;
            if !expired && seen.order.len() < self.capacity {
                break;
            }
            if let Some((at, old)) = seen.order.pop_front() {
                // Only if it was not seen again since.
                if seen.ids.get(&old) == Some(&at) {
                    seen.ids.remove(&old);
                }
            }
        }
        if seen.ids.contains_key(id) {
            return false;
        }
        let id: Arc<str> = Arc::from(id);
        seen.ids.insert(id.clone(), now);
        seen.order.push_back((now, id));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_expire_after_the_ttl_and_capacity_bounds_memory() {
        let dedup = Deduplicator::new(Duration::from_millis(0), 10);
        assert!(dedup.first_time("a"));
        assert!(dedup.first_time("a"), "expired at once with a zero TTL");
        let dedup = Deduplicator::new(Duration::from_secs(60), 3);
        for id in ["a", "b", "c", "d"] {
            assert!(dedup.first_time(id));
        }
        assert!(dedup.first_time("a"), "the oldest left at capacity");
        assert!(!dedup.first_time("d"));
        assert!(dedup.seen.lock().unwrap().ids.len() <= 3);
    }
}
