//! The single-use cache's two operations at the size it is built for: one
//! token checked and spent, and one replay refused, in a cache holding 1.8
//! million live tokens (10,000 a second for 180 s, the default lifetime
//! plus twice the skew). The baseline is a std `HashSet` of the same `String`
//! keys, the shape the cache had before.
//!
//! `cargo bench -p corridor-relay --bench replay`

use corridor_relay::{ReplayCache, TokenUse};
use criterion::{Criterion, criterion_group, criterion_main};
use std::collections::HashSet;
use std::hint::black_box;

const LIVE: u64 = 1_800_000;
const PER_SECOND: u64 = 10_000;
const NOW: i64 = 1_000_000;

fn key(i: u64) -> String {
    // As the relay builds it: audience, issuer and a 24-character token id.
    format!("relay-aud\0control-plane\0tok-{i:020}")
}

fn until(i: u64) -> i64 {
    NOW + (i / PER_SECOND) as i64
}

fn replay(c: &mut Criterion) {
    let cache = ReplayCache::new(256 * 1024 * 1024, None);
    let mut strings = HashSet::new();
    for i in 0..LIVE {
        assert_eq!(cache.try_use(&key(i), until(i), NOW), TokenUse::Fresh);
        strings.insert(key(i));
    }
    let usage = cache.usage(NOW);
    println!(
        "{} live tokens in {:.1} MiB ({:.1} bytes each)",
        usage.entries,
        usage.bytes as f64 / (1024.0 * 1024.0),
        usage.bytes as f64 / usage.entries as f64
    );
    let mut group = c.benchmark_group("replay_cache");
    let mut next = LIVE;
    // Fresh tokens land in the last second, as new tokens do.
    let last = until(LIVE - 1);
    group.bench_function("spend_fresh_token", |b| {
        b.iter(|| {
            next += 1;
            black_box(cache.try_use(&key(next), last, NOW))
        })
    });
    let mut probe = 0;
    group.bench_function("refuse_replay", |b| {
        b.iter(|| {
            probe = (probe + 7_919) % LIVE;
            black_box(cache.try_use(&key(probe), until(probe), NOW))
        })
    });
    group.bench_function("baseline_hashset_string_lookup", |b| {
        b.iter(|| {
            probe = (probe + 7_919) % LIVE;
            black_box(strings.contains(&key(probe)))
        })
    });
    group.finish();
}

criterion_group!(benches, replay);
criterion_main!(benches);
