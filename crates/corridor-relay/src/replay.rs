//! The single-use token store: a token admits once until it expires (plus
//! clock skew). [`ReplayStore`] is the interface the attach phase uses;
//! [`ReplayCache`] is the in-process store, bounded in bytes and in entries.
//! When full of live entries it refuses new tokens rather than forget a live
//! one, which would let that one be replayed.
//!
//! Each entry is a fixed 8 bytes: a keyed 64-bit digest of the token's scoped
//! id, filed in the set of tokens that expire in the same second. A replay
//! presents the same signed token, so the same expiry and the same digest: it
//! is found with one hash lookup. Purging is dropping whole seconds. A digest
//! shared by two tokens refuses the second one (fail closed); the digest key is
//! random per process, so no one can aim for a collision, and with at most a
//! few ten thousand tokens per second the chance is below 1 in 10^14 per token.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::pin::Pin;
use std::sync::Mutex;

/// The answer of a [`ReplayStore`] for one token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenUse {
    /// First use: the token is now spent.
    Fresh,
    /// The token was used before.
    Replayed,
    /// The store cannot remember one more token; the token stays unspent.
    Full,
}

/// What a store holds now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayUsage {
    /// Live entries.
    pub entries: usize,
    /// Bytes the entries' tables take.
    pub bytes: usize,
}

/// A boxed future, so that [`ReplayStore`] stays object-safe.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the relay records spent tokens: this process's [`ReplayCache`], or a
/// store shared by several relays.
pub trait ReplayStore: Send + Sync + std::fmt::Debug {
    /// Spends `key` until `used_until` (Unix seconds) if it is unspent.
    fn try_use<'a>(&'a self, key: &'a str, used_until: i64, now: i64) -> StoreFuture<'a, TokenUse>;

    /// What the store holds at `now`, after dropping what expired before it.
    fn usage(&self, now: i64) -> ReplayUsage;
}

/// The in-process single-use cache.
///
/// ```
/// use corridor_relay::{ReplayCache, TokenUse};
/// let cache = ReplayCache::new(1 << 20, Some(1));
/// assert_eq!(cache.try_use("a", 100, 10), TokenUse::Fresh);
/// assert_eq!(cache.try_use("a", 100, 11), TokenUse::Replayed);
/// assert_eq!(cache.try_use("b", 100, 11), TokenUse::Full); // one live entry at most
/// assert_eq!(cache.try_use("b", 200, 101), TokenUse::Fresh); // "a" expired at 100
/// ```
#[derive(Debug)]
pub struct ReplayCache {
    inner: Mutex<Seconds>,
    digest_key: RandomState,
    max_bytes: usize,
    max_entries: Option<usize>,
}

/// A digest is already a keyed hash: the sets use it as it is.
type Digests = HashSet<u64, BuildHasherDefault<DigestHasher>>;

#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else in rather than panic.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// Spent tokens by the second they expire in.
#[derive(Debug, Default)]
struct Seconds {
    by_second: BTreeMap<i64, Digests>,
    entries: usize,
    bytes: usize,
}

/// Bookkeeping per second beside its table: the map node's share and the set.
const SECOND_OVERHEAD_BYTES: usize = 64;
/// Control bytes after a table's buckets (the SIMD group width of std's tables).
const GROUP_WIDTH: usize = 16;

/// Buckets of a std hash table that reports `capacity`: it allocates a power
/// of two and fills at most 7/8 of it (all but one below 8 buckets).
fn buckets_for(capacity: usize) -> usize {
    match capacity {
        0 => 0,
        1..7 => capacity + 1,
        _ => capacity / 7 * 8,
    }
}

/// Bytes of a `Digests` table of `buckets` buckets: 8 per entry and one
/// control byte each, plus a group of trailing control bytes.
fn table_bytes(buckets: usize) -> usize {
    if buckets == 0 {
        0
    } else {
        buckets * (size_of::<u64>() + 1) + GROUP_WIDTH
    }
}

/// Bytes a second's set takes when its table has `buckets` buckets.
fn second_bytes(buckets: usize) -> usize {
    SECOND_OVERHEAD_BYTES + table_bytes(buckets)
}

impl Seconds {
    fn purge(&mut self, now: i64) {
        while let Some(entry) = self.by_second.first_entry() {
            if *entry.key() >= now {
                break;
            }
            let set = entry.remove();
            self.entries -= set.len();
            self.bytes -= second_bytes(buckets_for(set.capacity()));
        }
    }
}

impl ReplayCache {
    /// An empty cache whose tables stay within `max_bytes`, holding at most
    /// `max_entries` live tokens if that is set.
    pub fn new(max_bytes: usize, max_entries: Option<usize>) -> Self {
        Self {
            inner: Mutex::new(Seconds::default()),
            digest_key: RandomState::new(),
            max_bytes,
            max_entries,
        }
    }

    /// Spends `key` until `used_until` (Unix seconds) at `now`.
    pub fn try_use(&self, key: &str, used_until: i64, now: i64) -> TokenUse {
        if key.is_empty() || used_until < now {
            // An empty id cannot be single-use; an expired entry would be purged
            // at once (the verifier refuses such tokens before this).
            return TokenUse::Replayed;
        }
        let digest = self.digest_key.hash_one(key);
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.purge(now);
        if inner
            .by_second
            .get(&used_until)
            .is_some_and(|set| set.contains(&digest))
        {
            return TokenUse::Replayed;
        }
        if self.max_entries.is_some_and(|max| inner.entries >= max) {
            return TokenUse::Full;
        }
        let (old_bytes, grown_bytes) = match inner.by_second.get(&used_until) {
            // A first insert allocates a table of 4 buckets.
            None => (0, second_bytes(4)),
            Some(set) => {
                let buckets = buckets_for(set.capacity());
                // A full table doubles on insert.
                let grown = if set.len() < set.capacity() {
                    buckets
                } else {
                    buckets * 2
                };
                (second_bytes(buckets), second_bytes(grown))
            }
        };
        if inner.bytes - old_bytes + grown_bytes > self.max_bytes {
            return TokenUse::Full;
        }
        let set = inner.by_second.entry(used_until).or_default();
        set.insert(digest);
        // Count what the table really took; the prediction above only decides.
        let taken = second_bytes(buckets_for(set.capacity()));
        inner.bytes = inner.bytes - old_bytes + taken;
        inner.entries += 1;
        TokenUse::Fresh
    }

    /// Live entries and their bytes at `now`.
    pub fn usage(&self, now: i64) -> ReplayUsage {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.purge(now);
        ReplayUsage {
            entries: inner.entries,
            bytes: inner.bytes,
        }
    }
}

impl ReplayStore for ReplayCache {
    fn try_use<'a>(&'a self, key: &'a str, used_until: i64, now: i64) -> StoreFuture<'a, TokenUse> {
        let answer = ReplayCache::try_use(self, key, used_until, now);
        Box::pin(std::future::ready(answer))
    }

    fn usage(&self, now: i64) -> ReplayUsage {
        ReplayCache::usage(self, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_arithmetic_follows_std_tables() {
        // The budget is only as good as this prediction: each growth of a
        // real set lands where `buckets_for` says, doubling when full.
        let mut set = Digests::default();
        let mut predicted = 4;
        for value in 0..100_000u64 {
            let capacity = set.capacity();
            if set.len() == capacity {
                set.insert(value);
                assert_eq!(buckets_for(set.capacity()), predicted, "after {value}");
                predicted *= 2;
            } else {
                set.insert(value);
            }
        }
    }
}
