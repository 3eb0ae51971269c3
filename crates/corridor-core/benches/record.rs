//! FSEC record sealing and opening against the limit of the crypto backend:
//! ring's AES-256-GCM sealing the same bytes in place with no framing.
//!
//! `cargo bench -p corridor-core --bench record`

use corridor_core::fsec1::record::{Flag, HEADER_LEN, OVERHEAD, TAG_LEN, test_pair};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use std::hint::black_box;

const SIZES: [usize; 3] = [16 * 1024, 64 * 1024, 256 * 1024];

fn records(c: &mut Criterion) {
    let mut group = c.benchmark_group("fsec1_record");
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));

        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7u8; 32]).expect("key"));
        let mut buf = vec![0u8; size];
        let mut counter = 0u64;
        group.bench_function(format!("ring_aes256gcm_seal/{}k", size / 1024), |b| {
            b.iter(|| {
                counter += 1;
                let mut nonce = [0u8; 12];
                nonce[4..].copy_from_slice(&counter.to_be_bytes());
                let tag = key.seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from([0u8; HEADER_LEN]),
                    &mut buf,
                );
                let _ = black_box(tag.expect("seal"));
            })
        });

        let (mut sealer, _) = test_pair();
        let mut record = vec![0u8; size + OVERHEAD];
        group.bench_function(format!("seal_in_place/{}k", size / 1024), |b| {
            b.iter(|| black_box(sealer.seal_in_place(Flag::App, &mut record).expect("seal")))
        });

        let (mut sealer, _) = test_pair();
        let plaintext = vec![1u8; size];
        let mut out = Vec::with_capacity(size + OVERHEAD);
        group.bench_function(format!("seal_copying/{}k", size / 1024), |b| {
            b.iter(|| {
                out.clear();
                black_box(sealer.seal(Flag::App, &plaintext, &mut out).expect("seal"));
            })
        });

        let (mut sealer, mut opener) = test_pair();
        group.bench_function(format!("open_in_place/{}k", size / 1024), |b| {
            b.iter_batched_ref(
                || {
                    let mut record = vec![0u8; HEADER_LEN + size + TAG_LEN];
                    sealer.seal_in_place(Flag::App, &mut record).expect("seal");
                    record
                },
                |record| black_box(opener.open_in_place(record).expect("open").plaintext.len()),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, records);
criterion_main!(benches);
