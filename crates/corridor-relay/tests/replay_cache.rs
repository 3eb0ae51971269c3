//! The single-use cache on its own: a spent token stays refused for its whole
//! life, a full cache refuses without forgetting and recovers as tokens
//! expire, memory stays within its budget, and a reference model agrees on
//! every answer.

use corridor_relay::{ReplayCache, ReplayUsage, TokenUse};
use proptest::prelude::*;
use std::collections::HashMap;

const ROOMY: usize = 64 * 1024 * 1024;

#[test]
fn a_spent_token_is_refused_until_its_last_second_and_across_purges() {
    let cache = ReplayCache::new(ROOMY, None);
    let (start, until) = (1_000, 1_090);
    assert_eq!(cache.try_use("tok", until, start), TokenUse::Fresh);
    // Short-lived tokens expire around it: each purge drops their seconds,
    // never this one's.
    for now in start..=until {
        assert_eq!(
            cache.try_use(&format!("short-{now}"), now, now),
            TokenUse::Fresh
        );
        assert_eq!(
            cache.try_use("tok", until, now),
            TokenUse::Replayed,
            "at {now}"
        );
    }
    assert_eq!(cache.usage(until).entries, 2, "tok and the last short one");
    // Past its life the entry is gone, and so is every table.
    assert_eq!(cache.usage(until + 1), ReplayUsage::default());
}

#[test]
fn another_token_with_the_same_id_and_expiry_is_a_replay_but_not_another_expiry() {
    let cache = ReplayCache::new(ROOMY, None);
    assert_eq!(cache.try_use("id", 2_000, 1_000), TokenUse::Fresh);
    assert_eq!(cache.try_use("id", 2_000, 1_500), TokenUse::Replayed);
    // The issuer signed both expiries: a distinct token.
    assert_eq!(cache.try_use("id", 2_001, 1_500), TokenUse::Fresh);
}

#[test]
fn empty_or_expired_ids_are_never_fresh() {
    let cache = ReplayCache::new(ROOMY, None);
    assert_eq!(cache.try_use("", 2_000, 1_000), TokenUse::Replayed);
    assert_eq!(cache.try_use("late", 999, 1_000), TokenUse::Replayed);
    assert_eq!(cache.usage(1_000).entries, 0);
}

#[test]
fn a_full_entry_cap_refuses_and_recovers_when_tokens_expire() {
    let cache = ReplayCache::new(ROOMY, Some(3));
    for (i, until) in [(0, 10), (1, 10), (2, 20)] {
        assert_eq!(cache.try_use(&format!("t{i}"), until, 5), TokenUse::Fresh);
    }
    assert_eq!(cache.try_use("t3", 20, 5), TokenUse::Full);
    // Refused, not spent: the same token is still fresh once there is room.
    assert_eq!(
        cache.try_use("t3", 20, 10),
        TokenUse::Full,
        "t0, t1 live through 10"
    );
    assert_eq!(cache.try_use("t3", 20, 11), TokenUse::Fresh);
    // The survivor of the purge is still refused.
    assert_eq!(cache.try_use("t2", 20, 11), TokenUse::Replayed);
}

#[test]
fn the_byte_budget_bounds_the_tables_and_refuses_when_spent() {
    let budget = 256 * 1024;
    let cache = ReplayCache::new(budget, None);
    let now = 1_000;
    let mut admitted = 0u64;
    let mut full_at = None;
    for i in 0..100_000u64 {
        // Ten expiry seconds, as tokens minted over ten seconds.
        match cache.try_use(&format!("tok-{i}"), now + 60 + (i % 10) as i64, now) {
            TokenUse::Fresh => admitted += 1,
            TokenUse::Full => {
                full_at.get_or_insert(i);
            }
            TokenUse::Replayed => panic!("tok-{i} was never used"),
        }
        assert!(cache.usage(now).bytes <= budget);
    }
    assert!(full_at.is_some(), "256 KiB cannot hold 100,000 tokens");
    // At least 12 bytes a token even when the tables just doubled.
    assert!(admitted * 24 >= budget as u64, "admitted {admitted}");
    assert_eq!(cache.usage(now).entries as u64, admitted);
    // Every second expires: all the memory is given back, and new tokens fit.
    assert_eq!(cache.usage(now + 70), ReplayUsage::default());
    assert_eq!(cache.try_use("after", now + 200, now + 70), TokenUse::Fresh);
}

#[test]
fn a_million_tokens_take_under_24_bytes_each() {
    let cache = ReplayCache::new(ROOMY, None);
    let now = 1_000;
    for i in 0..1_000_000u64 {
        let until = now + 60 + (i / 10_000) as i64;
        assert_eq!(cache.try_use(&format!("t{i}"), until, now), TokenUse::Fresh);
    }
    let usage = cache.usage(now);
    assert_eq!(usage.entries, 1_000_000);
    assert!(usage.bytes < 24 * 1_000_000, "{} bytes", usage.bytes);
}

/// What the cache must answer, written the obvious way.
#[derive(Default)]
struct Model {
    spent: HashMap<(String, i64), ()>,
}

impl Model {
    fn try_use(&mut self, key: &str, until: i64, now: i64, max: usize) -> TokenUse {
        self.spent.retain(|(_, until), _| *until >= now);
        if key.is_empty() || until < now || self.spent.contains_key(&(key.to_owned(), until)) {
            return TokenUse::Replayed;
        }
        if self.spent.len() >= max {
            return TokenUse::Full;
        }
        self.spent.insert((key.to_owned(), until), ());
        TokenUse::Fresh
    }
}

proptest! {
    #[test]
    fn the_cache_answers_as_the_model(
        steps in prop::collection::vec((0u8..12, 0i64..6, 0i64..3), 1..400),
        max in 1usize..12,
    ) {
        let cache = ReplayCache::new(ROOMY, Some(max));
        let mut model = Model::default();
        let mut now = 100;
        for (key, lifetime, step) in steps {
            now += step;
            let key = if key == 0 { String::new() } else { format!("k{key}") };
            let until = now + lifetime - 1;
            prop_assert_eq!(
                cache.try_use(&key, until, now),
                model.try_use(&key, until, now, max),
                "{} until {} at {}", key, until, now
            );
            prop_assert_eq!(cache.usage(now).entries, model.spent.len());
        }
    }
}
