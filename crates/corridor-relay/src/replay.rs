//! The single-use token cache: a `token_id` admits once until its token
//! expires (plus clock skew). Bounded: when full of live entries it refuses
//! new tokens rather than forgetting a live one, which would let it replay.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

/// The replay cache.
#[derive(Debug)]
pub struct ReplayCache {
    inner: Mutex<Inner>,
    max_entries: usize,
}

#[derive(Debug, Default)]
struct Inner {
    used_until: HashMap<String, i64>,
    by_expiry: BTreeSet<(i64, String)>,
}

impl Inner {
    fn purge(&mut self, now: i64) {
        while let Some((until, _)) = self.by_expiry.first() {
            if *until >= now {
                break;
            }
            if let Some((_, key)) = self.by_expiry.pop_first() {
                self.used_until.remove(&key);
            }
        }
    }
}

impl ReplayCache {
    /// An empty cache holding at most `max_entries` live tokens.
    pub fn new(max_entries: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            max_entries,
        }
    }

    /// Records `key` as used until `used_until` (Unix seconds) and returns true,
    /// or returns false if it is in use already or the cache is full.
    ///
    /// ```
    /// let cache = corridor_relay::ReplayCache::new(1);
    /// assert!(cache.try_use("a", 100, 10));
    /// assert!(!cache.try_use("a", 100, 11));
    /// assert!(!cache.try_use("b", 100, 11)); // full of live entries
    /// assert!(cache.try_use("b", 200, 101)); // "a" expired at 100
    /// ```
    pub fn try_use(&self, key: &str, used_until: i64, now: i64) -> bool {
        if key.is_empty() {
            return false;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.purge(now);
        if inner.used_until.contains_key(key) || inner.used_until.len() >= self.max_entries {
            return false;
        }
        inner.used_until.insert(key.to_owned(), used_until);
        inner.by_expiry.insert((used_until, key.to_owned()));
        true
    }

    /// Live entries.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .used_until
            .len()
    }

    /// Whether no entry is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
